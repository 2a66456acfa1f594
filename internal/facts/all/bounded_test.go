package all_test

import (
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all"
)

// TestWorstCaseBounded feeds each classifier inputs of the maximum size in
// the shapes that are slowest for its parser (long operator chains, deep
// nesting, many statements, brace explosions, long paths and hosts) and
// checks that every call returns soon after the time limit, whatever the
// parser does.
func TestWorstCaseBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	n := facts.DefaultMaxInputBytes - 64
	inputs := map[string][]string{
		"sql": {"SELECT 1" + strings.Repeat("+1", n/2-8), "SELECT " + strings.Repeat("(", n/2-10) + "1" + strings.Repeat(")", n/2-10),
			strings.Repeat("SELECT a FROM b;", n/16), "SELECT " + strings.Repeat("f(", n/3) + strings.Repeat(")", n/3),
			"SELECT " + strings.Repeat("a,", n/2-8) + "a"},
		"shell": {strings.Repeat("a|", n/2), strings.Repeat("$(", n/3) + strings.Repeat(")", n/3), strings.Repeat("{a,b}", n/5),
			strings.Repeat("bash -c ", n/8), strings.Repeat("(", n/2) + strings.Repeat(")", n/2), strings.Repeat("a ", n/2)},
		"path": {"/" + strings.Repeat("a/", n/2), strings.Repeat("%25", n/3), strings.Repeat("../", n/3), "/" + strings.Repeat("\uff0e", n/3)},
		"url":  {"http://" + strings.Repeat("a.", n/2-4) + "com", "http://x/" + strings.Repeat("%41", n/3), "http://" + strings.Repeat("ü", n/2-8) + "/"},
	}
	const slack = 500 * time.Millisecond
	for name, ins := range inputs {
		c, err := facts.New(name, facts.Options{Roots: []string{t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		for i, in := range ins {
			start := time.Now()
			f := c.Classify(in)
			if d := time.Since(start); d > facts.DefaultTimeout+slack {
				t.Errorf("%s #%d (%d bytes) took %v", name, i, len(in), d)
			}
			if _, ok := f["parse_error"].(bool); !ok {
				t.Errorf("%s #%d: no parse_error field", name, i)
			}
		}
	}
}
