// Package testutil finds the real parts that toolgate's tests drive (npm MCP
// servers, the toolgate binary) and fails or skips clearly when they are
// missing.
package testutil

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// RepoRoot is the directory of go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: go.mod not found")
		}
		dir = parent
	}
}

// Missing fails the test when the suite runs with TOOLGATE_REQUIRE_DEPS=1 (as
// scripts/test.sh and CI do) and skips it otherwise, naming the fix.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := what + " is not installed; run scripts/test-deps.sh (scripts/test.sh does)"
	if os.Getenv("TOOLGATE_REQUIRE_DEPS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NodeBin returns the path of an npm package's executable installed by
// scripts/test-deps.sh (e.g. "mcp-server-filesystem").
func NodeBin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "scripts", "node", "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "npm package executable "+name)
	}
	if _, err := exec.LookPath("node"); err != nil {
		Missing(t, "node")
	}
	return p
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// Toolgate builds the toolgate binary once per test process and returns its
// path.
func Toolgate(t testing.TB) string {
	t.Helper()
	// TOOLGATE_TEST_BINARY runs the tests against another build (an older
	// commit, to show that an attack test fails there).
	if p := os.Getenv("TOOLGATE_TEST_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "toolgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "toolgate")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/toolgate")
		cmd.Dir = RepoRoot(t)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building toolgate: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

// SyncBuffer collects output written from several goroutines (a process's
// stderr, a logger) for a test to read, and lets a test wait for a line the
// process writes when it is ready (an explicit signal instead of polling).
type SyncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	grew chan struct{} // closed and replaced at each write
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.grew != nil {
		close(b.grew)
		b.grew = nil
	}
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor blocks until the output contains s (true) or done is closed
// first (false: the process ended without writing it). It has no deadline
// of its own: a process that neither writes s nor ends is reported by go
// test's timeout, with every goroutine.
func (b *SyncBuffer) WaitFor(s string, done <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if bytes.Contains(b.buf.Bytes(), []byte(s)) {
			b.mu.Unlock()
			return true
		}
		if b.grew == nil {
			b.grew = make(chan struct{})
		}
		grew := b.grew
		b.mu.Unlock()
		select {
		case <-grew:
		case <-done:
			return bytes.Contains([]byte(b.String()), []byte(s))
		}
	}
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// process the test starts with a fixed listen address.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
