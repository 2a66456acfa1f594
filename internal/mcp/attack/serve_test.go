package attack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// served is a running `toolgate serve`.
type served struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{} // closed when the process has ended
	err  error         // its exit, once done is closed
}

// startServe starts cmd (a `toolgate serve`) and waits until it logs that
// it serves: its listener is bound then.
func startServe(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	s := &served{cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if !s.out.WaitFor("toolgate serving", s.done) {
		t.Fatalf("toolgate serve ended before serving: %v\n%s", s.err, s.out.String())
	}
	return s
}

// stop ends the process as an orchestrator would (SIGTERM) and returns its
// exit; calling it again returns the same.
func (s *served) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	return s.err
}

// laxGateway is a `toolgate serve` in front of the lax server, shared by
// every session (/mcp/lax) and one process per session (/mcp/laxs).
type laxGateway struct {
	*served
	dir, data, execPath string
	base                string // http://127.0.0.1:port
	port                int
}

// serveLax writes the policies and a config (extra is YAML added to it) and
// starts the gateway; its output is shown if the test fails.
func serveLax(t *testing.T, policies, extra string) *laxGateway {
	t.Helper()
	g := &laxGateway{dir: t.TempDir(), port: testutil.FreePort(t)}
	g.data, g.execPath = filepath.Join(g.dir, "data"), filepath.Join(g.dir, "exec")
	g.base = fmt.Sprintf("http://127.0.0.1:%d", g.port)
	pdir := filepath.Join(g.dir, "policies")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, "attack.cedar"), []byte(policies), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
policy:
  dirs: [%q]
servers:
  - {name: lax, command: %q}
  - {name: laxs, command: %q}
mcp:
  shutdown_timeout: 2s
  gateway:
    servers:
      lax: {mode: shared}
      laxs: {mode: session}
log:
  level: debug
%s`, g.port, pdir, os.Args[0], os.Args[0], extra)
	config := filepath.Join(g.dir, "config.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", g.data, "serve")
	cmd.Env = append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+g.execPath)
	g.served = startServe(t, cmd)
	t.Cleanup(func() {
		_ = g.stop() // a test that failed early leaves no process behind
		if t.Failed() {
			t.Logf("toolgate serve's output:\n%s", g.out.String())
		}
	})
	return g
}

// results stops the gateway and returns what the lax servers carried out
// and the decisions of the trail, whose chain must verify.
func (g *laxGateway) results(t *testing.T) ([]executed, []decision) {
	t.Helper()
	if err := g.stop(); err != nil {
		t.Errorf("toolgate serve: %v", err)
	}
	quiet := filepath.Join(g.dir, "audit.yaml")
	if err := os.WriteFile(quiet, []byte("log:\n  level: error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return readExecuted(t, g.execPath), trail(t, quiet, g.data)
}
