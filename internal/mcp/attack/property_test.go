package attack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/testutil"
)

// decision is the part of an audit decision record the property reads.
type decision struct {
	Type       string          `json:"type"`
	DecisionID string          `json:"decision_id"`
	Tool       string          `json:"tool"`
	Effect     string          `json:"effect"`
	Arguments  json.RawMessage `json:"arguments"`
	Reasons    []struct {
		Code string `json:"code"`
	} `json:"reasons"`
}

// trail reads a data directory's audit trail with `toolgate audit query`
// and checks its hash chain with `toolgate audit verify`.
func trail(t *testing.T, config, dataDir string) []decision {
	t.Helper()
	ds, _ := records(t, config, dataDir)
	return ds
}

// records is trail with the outcome records' statuses, by decision id.
func records(t *testing.T, config, dataDir string) ([]decision, map[string][]string) {
	t.Helper()
	bin := testutil.Toolgate(t)
	out, err := exec.Command(bin, "--config", config, "--data-dir", dataDir, "audit", "verify").CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "--config", config, "--data-dir", dataDir, "audit", "query").Output()
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	var ds []decision
	outcomes := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var d decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("audit query printed %q: %v", sc.Text(), err)
		}
		switch d.Type {
		case "decision":
			ds = append(ds, d)
		case "outcome":
			var o struct{ Status string }
			_ = json.Unmarshal(sc.Bytes(), &o)
			outcomes[d.DecisionID] = append(outcomes[d.DecisionID], o.Status)
		}
	}
	return ds, outcomes
}

// readExecuted reads what the lax server carried out.
func readExecuted(t *testing.T, path string) []executed {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []executed
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var e executed
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("exec record %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// checkJudged is the suite's property: everything the server carried out
// was judged allowed exactly as carried out, and recorded. A tool call is
// matched to an allow decision of the same tool with the same arguments
// (each decision at most once); a method is one the method table forwards;
// a response is never carried out (the lax server asks nothing). No
// reserved _meta key of any spelling reaches the server.
func checkJudged(t *testing.T, attack string, ex []executed, ds []decision) {
	t.Helper()
	used := make([]bool, len(ds))
	for _, e := range ex {
		switch e.Kind {
		case "call":
			if containsFold(string(e.Meta), "toolgate/") {
				t.Errorf("%s: a reserved _meta key reached the server: %s", attack, e.Line)
			}
			found := false
			for i, d := range ds {
				if !used[i] && d.Effect == "allow" && "lax/"+e.Name == "lax/"+d.Tool && sameJSON(d.Arguments, e.Arguments) {
					used[i], found = true, true
					break
				}
			}
			if !found {
				t.Errorf("%s: the server carried out a call that was not judged allowed as carried out: %s %s (line %q)", attack, e.Name, e.Arguments, e.Line)
			}
		case "method":
			if mcp.ClientRequest(e.Method) != mcp.Forward && mcp.ClientNotification(e.Method) != mcp.Forward {
				t.Errorf("%s: the server carried out method %q, which toolgate must refuse (line %q)", attack, e.Method, e.Line)
			}
		case "response":
			t.Errorf("%s: a response nobody asked for reached the server: %q", attack, e.Line)
		}
	}
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func testdata(t *testing.T, name string) string {
	return filepath.Join(testutil.RepoRoot(t), "internal", "mcp", "attack", "testdata", name)
}

// refusedAsNotification counts the recorded refusals of tools/call sent as
// notifications.
func refusedAsNotification(ds []decision) int {
	n := 0
	for _, d := range ds {
		for _, r := range d.Reasons {
			if d.Effect == "deny" && r.Code == "mcp.notification_call" {
				n++
			}
		}
	}
	return n
}
