package all_test

import (
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
	_ "github.com/toolgate/toolgate/internal/facts/all"
	"github.com/toolgate/toolgate/internal/facts/factstest"
)

// worstCases are values of the maximum size in the shapes that are
// slowest for each parser: long operator chains, deep nesting, many
// statements, brace explosions, long paths and hosts. Their cost is
// measured in bench/facts; here they must end in an answer that is the
// same every time.
func worstCases() map[string][]string {
	n := facts.DefaultMaxInputBytes - 64
	return map[string][]string{
		"sql": {"SELECT 1" + strings.Repeat("+1", n/2-8), "SELECT " + strings.Repeat("(", n/2-10) + "1" + strings.Repeat(")", n/2-10),
			strings.Repeat("SELECT a FROM b;", n/16), "SELECT " + strings.Repeat("f(", n/3) + strings.Repeat(")", n/3),
			"SELECT " + strings.Repeat("a,", n/2-8) + "a"},
		"shell": {strings.Repeat("a|", n/2), strings.Repeat("$(", n/3) + strings.Repeat(")", n/3), strings.Repeat("{a,b}", n/5),
			strings.Repeat("bash -c ", n/8), strings.Repeat("(", n/2) + strings.Repeat(")", n/2), strings.Repeat("a ", n/2),
			strings.Repeat("x", n/2) + "{" + strings.Repeat("a,", 4000) + "b}"},
		"path": {"/" + strings.Repeat("a/", n/2), strings.Repeat("%25", n/3), strings.Repeat("../", n/3), "/" + strings.Repeat("\uff0e", n/3)},
		"url":  {"http://" + strings.Repeat("a.", n/2-4) + "com", "http://x/" + strings.Repeat("%41", n/3), "http://" + strings.Repeat("ü", n/2-8) + "/"},
	}
}

// TestWorstCaseBounded checks that the slowest shapes end in complete
// facts (every field of the classifier present, the fail-safe values when
// the value could not be analysed) and that the answer is a function of
// the value: the same on a second call.
func TestWorstCaseBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	for name, ins := range worstCases() {
		c, err := facts.New(name, facts.Options{Roots: []string{t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		for i, in := range ins {
			f := c.Classify(in)
			checkComplete(t, name, f)
			if g := c.Classify(in); !reflect.DeepEqual(f, g) {
				t.Errorf("%s #%d: two calls differ:\n%v\n%v", name, i, f, g)
			}
		}
	}
}

// checkComplete checks that f has exactly the fields of the classifier's
// unanalysed facts (plus error), and the fail-safe values of its flags
// when parse_error is set.
func checkComplete(t *testing.T, name string, f facts.Facts) {
	t.Helper()
	factstest.CheckTypes(t, f)
	u := facts.Unanalysed(name, "x")
	want := slices.Sorted(maps.Keys(u))
	got := slices.Sorted(maps.Keys(f))
	if f["parse_error"] != true {
		want = slices.DeleteFunc(want, func(k string) bool { return k == "error" })
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: fields %v, want %v", name, got, want)
		return
	}
	if f["parse_error"] == true {
		for k, v := range u {
			if k != "error" && !reflect.DeepEqual(f[k], v) {
				t.Errorf("%s: parse_error with %s = %v, want the fail-safe %v", name, k, f[k], v)
			}
		}
	}
}

// TestDecisionsUnderLoad classifies the same values on an idle machine and
// again while other goroutines keep every core busy: the facts must be
// identical. (They once were not: a 50 ms clock limit turned "SELECT 1"
// into a parse_error on a loaded machine.)
func TestDecisionsUnderLoad(t *testing.T) {
	values := map[string][]string{
		"sql":   {"SELECT 1", "SELECT a FROM t WHERE id = 1", "DELETE FROM t", "SELECT " + strings.Repeat("a,", 20000) + "a"},
		"shell": {"ls -la", "curl x | sh", "x='a[$(id)]'; echo $((x))", strings.Repeat("echo a | ", 500) + "wc -l"},
		"path":  {"a.txt", "../etc/passwd", "/" + strings.Repeat("a/", 200)},
		"url":   {"https://example.com/", "http://169.254.169.254/", "http://" + strings.Repeat("a.", 2000) + "com"},
	}
	root := t.TempDir()
	classify := func() map[string][]facts.Facts {
		out := map[string][]facts.Facts{}
		for name, vs := range values {
			c, err := facts.New(name, facts.Options{Roots: []string{root}})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				out[name] = append(out[name], c.Classify(v))
			}
		}
		return out
	}
	idle := classify()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var spins atomic.Int64
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					spins.Add(1)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for range 5 {
		if loaded := classify(); !reflect.DeepEqual(idle, loaded) {
			t.Fatalf("facts differ under load:\nidle   %v\nloaded %v", idle, loaded)
		}
	}
	if spins.Load() == 0 {
		t.Fatal("the load goroutines never ran")
	}
}

// TestUnanalysedComplete checks every classifier's fail-safe facts: the
// answer for a value that is too large has the same fields as any other.
func TestUnanalysedComplete(t *testing.T) {
	for _, name := range facts.Names() {
		c, err := facts.New(name, facts.Options{MaxInputBytes: 4, Roots: []string{t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		checkComplete(t, name, c.Classify("too large"))
		u := facts.Unanalysed(name, "why")
		if u["parse_error"] != true || u["error"] != "why" {
			t.Errorf("%s: Unanalysed = %v", name, u)
		}
	}
}
