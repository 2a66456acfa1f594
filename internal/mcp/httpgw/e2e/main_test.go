// Package e2e drives `toolgate serve` as a process with real parts: the MCP
// conformance suite (npm), @modelcontextprotocol/server-everything in its
// streamableHttp mode, our own conformance server written with the Go SDK
// (./confserver), the Go SDK client and the zitadel OpenID provider
// (internal/identity/idptest).
package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// start runs a process for the test; it is stopped (by its pid) at cleanup
// and its output shown if the test failed. The output and a channel closed
// when the process ends are returned.
func start(t *testing.T, name string, env []string, args ...string) (*testutil.SyncBuffer, <-chan struct{}) {
	t.Helper()
	out := &testutil.SyncBuffer{}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return out, done
}

// waitHTTP waits until something answers HTTP at url: for servers that are
// not toolgate, whose start-up output the test does not rely on.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing answers at %s", url)
}

var (
	confOnce sync.Once
	confPath string
	confErr  error
	confOut  []byte
)

// confServer builds ./confserver once per test binary: our MCP server,
// written with the Go SDK, that implements every tool, resource, prompt
// and utility the conformance suite's server scenarios call.
func confServer(t *testing.T) string {
	t.Helper()
	confOnce.Do(func() {
		dir, err := os.MkdirTemp("", "toolgate-confserver-")
		if err != nil {
			confErr = err
			return
		}
		confPath = filepath.Join(dir, "confserver")
		cmd := exec.Command("go", "build", "-o", confPath, "github.com/toolgate/toolgate/internal/mcp/httpgw/e2e/confserver")
		cmd.Dir = testutil.RepoRoot(t)
		confOut, confErr = cmd.CombinedOutput()
	})
	if confErr != nil {
		t.Fatalf("building the conformance server: %v\n%s", confErr, confOut)
	}
	return confPath
}

// startConfServer starts our Go SDK conformance server (./confserver),
// stateful so that sampling, elicitation and stream resumption work, and
// returns its MCP URL. (aggregate_test.go and identity_test.go use it too.)
func startConfServer(t *testing.T) string {
	port := testutil.FreePort(t)
	start(t, "conformance server (confserver)", nil, confServer(t), fmt.Sprintf("-http=localhost:%d", port), "-stateless=false")
	url := fmt.Sprintf("http://localhost:%d/mcp", port)
	waitHTTP(t, url)
	return url
}

// startEverything starts server-everything in streamableHttp mode.
func startEverything(t *testing.T) string {
	bin := testutil.NodeBin(t, "mcp-server-everything")
	port := testutil.FreePort(t)
	start(t, "server-everything", []string{fmt.Sprintf("PORT=%d", port)}, bin, "streamableHttp")
	url := fmt.Sprintf("http://localhost:%d/mcp", port)
	waitHTTP(t, url)
	return url
}

// serve starts `toolgate serve` with the config text (listen and data_dir
// are added) and returns its base URL.
func serve(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	port := testutil.FreePort(t)
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\n%s", port, filepath.Join(dir, "data"), config)
	path := filepath.Join(dir, "toolgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, done := start(t, "toolgate serve", nil, testutil.Toolgate(t), "--config", path, "serve")
	if !out.WaitFor("toolgate serving", done) {
		t.Fatalf("toolgate serve ended before serving:\n%s", out.String())
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func testdata(t *testing.T, name string) string {
	return filepath.Join(testutil.RepoRoot(t), "internal", "mcp", "httpgw", "e2e", "testdata", name)
}
