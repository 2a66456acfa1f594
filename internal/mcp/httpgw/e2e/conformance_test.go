package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// summaryLine is a scenario's line in the suite's summary:
// "✓ tools-list: 1 passed, 0 failed".
var summaryLine = regexp.MustCompile(`^([✓✗])\s+(\S+):\s+(\d+) passed, (\d+) failed`)

// conformance runs @modelcontextprotocol/conformance@0.1.12 in server mode
// against url and returns each scenario's result (true: passed).
func conformance(t *testing.T, url string) map[string]bool {
	t.Helper()
	bin := testutil.NodeBin(t, "conformance")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "--url", url)
	cmd.Dir = t.TempDir() // it writes results to its working directory
	cmd.Env = os.Environ()
	out, _ := cmd.CombinedOutput() // non-zero when a scenario fails
	res := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := summaryLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			res[m[2]] = m[1] == "✓" && m[4] == "0"
		}
	}
	if len(res) == 0 {
		t.Fatalf("the conformance suite printed no summary for %s:\n%s", url, out)
	}
	return res
}

// TestConformanceThroughToolgate runs the MCP conformance suite against two
// upstreams directly and through `toolgate serve` (/mcp/{server}) with a
// permissive policy: every scenario that passes directly must pass through
// toolgate. The upstreams are "ours", our conformance server written with
// the Go SDK (./confserver, which implements what every server scenario
// calls), and "everything", @modelcontextprotocol/server-everything. The
// per-scenario lists are in the test output (go test -v).
func TestConformanceThroughToolgate(t *testing.T) {
	ours := startConfServer(t)
	everything := startEverything(t)
	base := serve(t, fmt.Sprintf(`principal: {id: conformance}
policy: {dirs: [%s]}
servers:
  - {name: ours, url: %q}
  - {name: everything, url: %q}
`, testdata(t, "allow-all.cedar"), ours, everything))

	for _, up := range []struct{ name, direct string }{{"ours", ours}, {"everything", everything}} {
		t.Run(up.name, func(t *testing.T) {
			direct := conformance(t, up.direct)
			through := conformance(t, base+"/mcp/"+up.name)
			var names []string
			for n := range direct {
				names = append(names, n)
			}
			sort.Strings(names)
			passed := 0
			for _, n := range names {
				mark := func(ok bool) string {
					if ok {
						return "pass"
					}
					return "FAIL"
				}
				t.Logf("%-32s direct %s  through toolgate %s", n, mark(direct[n]), mark(through[n]))
				if direct[n] {
					passed++
					if !through[n] {
						t.Errorf("scenario %s passes directly but fails through toolgate", n)
					}
				}
			}
			t.Logf("%s: %d of %d scenarios pass directly; all of them pass through toolgate unless reported above", up.name, passed, len(names))
		})
	}
}
