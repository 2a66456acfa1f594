package evasion

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/toolgate/toolgate/internal/config"
	_ "github.com/toolgate/toolgate/internal/facts/all"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policytest"
)

// pack decides calls with the example policy pack (examples/policies)
// and its configuration, with the real classifiers.
type pack struct{ r *policytest.Runner }

// newPack loads the example pack. roots, when given, replace the file
// server's roots (the pack's config names /workspace).
func newPack(t testing.TB, roots ...string) *pack {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "examples", "policies")
	b, err := os.ReadFile(filepath.Join(dir, "toolgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) > 0 {
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, s := range doc["servers"].([]any) {
			srv := s.(map[string]any)
			if f, ok := srv["facts"].(map[string]any); ok && f["roots"] != nil {
				f["roots"] = roots
			}
		}
		if b, err = yaml.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse("toolgate.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := policy.ReadDirs([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(policy.OrgLayer, srcs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := policytest.NewRunner(set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &pack{r: r}
}

// allows reports whether the pack allows the tool call (anything else,
// deny or ask, keeps the call from running on its own).
func (p *pack) allows(tool string, input map[string]any) (bool, string) {
	res := p.r.Run(policytest.Case{
		Name:   tool,
		Expect: "allow",
		Request: map[string]any{
			"subject":  map[string]any{"type": "agent", "id": "assistant"},
			"action":   map[string]any{"name": tool},
			"resource": map[string]any{"type": "server", "id": strings.SplitN(tool, "/", 2)[0]},
			"context":  map[string]any{"input": input},
		},
	})
	return res.Pass, res.Failure
}

// suiteCase is one line of a suite file: "+ value" for an input the pack
// is meant to allow, "- value" for one it must not allow. "⏎" stands for a
// newline, "␍" a carriage return. Lines starting with "#" are comments; "## class" names the
// class of the cases that follow.
type suiteCase struct {
	benign bool
	value  string
	class  string
	line   int
}

func readSuite(t testing.TB, name string) []suiteCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []suiteCase
	class := ""
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			class = strings.TrimSpace(l[3:])
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "+ ") || strings.HasPrefix(l, "- "):
			out = append(out, suiteCase{benign: l[0] == '+', value: strings.NewReplacer("⏎", "\n", "␍", "\r").Replace(l[2:]), class: class, line: i + 1})
		default:
			t.Fatalf("%s:%d: a case starts with \"+ \" or \"- \": %q", name, i+1, l)
		}
	}
	return out
}

func (c suiteCase) String() string {
	return fmt.Sprintf("line %d [%s] %q", c.line, c.class, c.value)
}

// falseDenies checks the rate of benign cases the pack does not allow.
func falseDenies(t *testing.T, denied, benign int) {
	t.Helper()
	if benign == 0 {
		t.Fatal("no benign cases")
	}
	rate := float64(denied) / float64(benign)
	t.Logf("%d of %d benign cases not allowed (%.1f %%)", denied, benign, 100*rate)
	if rate > 0.03 {
		t.Errorf("false denies %.1f %% of benign cases, above 3 %%", 100*rate)
	}
}
