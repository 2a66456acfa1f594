// Package e2e drives `toolgate serve` as a process with real parts: the MCP
// conformance suite (npm), @modelcontextprotocol/server-everything in its
// streamableHttp mode, the Go SDK's conformance server, the Go SDK client
// and the zitadel OpenID provider (internal/identity/idptest).
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
// and its output shown if the test failed.
func start(t *testing.T, name string, env []string, args ...string) {
	t.Helper()
	out := &testutil.SyncBuffer{}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
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
}

// waitHTTP waits until something answers HTTP at url.
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
	sdkOnce sync.Once
	sdkPath string
	sdkErr  error
	sdkOut  []byte
)

// sdkConformanceServer builds the Go SDK's conformance server: a Go SDK
// server that implements every tool, resource and prompt the conformance
// suite's server scenarios call (the SDK maintains it for exactly that).
func sdkConformanceServer(t *testing.T) string {
	t.Helper()
	sdkOnce.Do(func() {
		dir, err := os.MkdirTemp("", "toolgate-sdk-")
		if err != nil {
			sdkErr = err
			return
		}
		sdkPath = filepath.Join(dir, "everything-server")
		cmd := exec.Command("go", "build", "-o", sdkPath, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server")
		cmd.Dir = testutil.RepoRoot(t)
		sdkOut, sdkErr = cmd.CombinedOutput()
	})
	if sdkErr != nil {
		t.Fatalf("building the Go SDK conformance server: %v\n%s", sdkErr, sdkOut)
	}
	return sdkPath
}

// startSDKServer starts the Go SDK conformance server (stateful, so that
// sampling and elicitation work) and returns its MCP URL.
func startSDKServer(t *testing.T) string {
	port := testutil.FreePort(t)
	start(t, "go-sdk conformance server", nil, sdkConformanceServer(t), fmt.Sprintf("-http=localhost:%d", port), "-stateless=false")
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
	start(t, "toolgate serve", nil, testutil.Toolgate(t), "--config", path, "serve")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/healthz")
	return base
}

func testdata(t *testing.T, name string) string {
	return filepath.Join(testutil.RepoRoot(t), "internal", "mcp", "httpgw", "e2e", "testdata", name)
}
