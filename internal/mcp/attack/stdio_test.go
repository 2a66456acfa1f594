package attack

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestStdioAttacks sends every attack through `toolgate run` to the lax
// server and checks that nothing it carried out went unjudged. The attacks
// of one protocol version share one toolgate process (a failure names the
// line the server read).
func TestStdioAttacks(t *testing.T) {
	byVersion := map[string][]attack{}
	for _, a := range attacks() {
		if !a.httpOnly {
			byVersion[a.version] = append(byVersion[a.version], a)
		}
	}
	for version, as := range byVersion {
		t.Run("version "+version, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			execPath := filepath.Join(dir, "exec")
			config := testdata(t, "config.yaml")
			all := attack{name: "all", version: version}
			for _, a := range as {
				all.msgs = append(all.msgs, a.msgs...)
				all.refused += a.refused
			}
			runStdio(t, dir, config, execPath, all)
			ds := trail(t, config, filepath.Join(dir, "data"))
			checkJudged(t, "stdio", readExecuted(t, execPath), ds)
			if got := refusedAsNotification(ds); got != all.refused {
				t.Errorf("%d refusals of tools/call notifications recorded, want %d", got, all.refused)
			}
		})
	}
}

// runStdio runs one attack through `toolgate run` to the lax server.
func runStdio(t *testing.T, dir, config, execPath string, a attack) {
	t.Helper()
	cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", filepath.Join(dir, "data"),
		"run", "--policy", testdata(t, "policies"), "--name", "lax", "--", os.Args[0])
	cmd.Env = append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+execPath)
	version := a.version
	if version == "" {
		version = "2025-06-18"
	}
	runLines(t, cmd, version, a.msgs)
}

// runLines runs `toolgate run` (cmd) and sends initialize, msgs (one a
// line), then a ping whose answer says every line before it was read; then
// the client's input ends and toolgate stops.
func runLines(t *testing.T, cmd *exec.Cmd, version string, msgs []string) {
	t.Helper()
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("toolgate's stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	send := func(s string) {
		if _, err := io.WriteString(in, s+"\n"); err != nil {
			t.Fatalf("write to toolgate: %v", err)
		}
	}
	await := func(id string) {
		deadline := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("toolgate's output ended before the answer to %s", id)
				}
				var m struct{ ID json.RawMessage }
				if json.Unmarshal([]byte(l), &m) == nil && string(m.ID) == id && !strings.Contains(l, `"method"`) {
					return
				}
			case <-deadline:
				t.Fatalf("no answer to %s within 60s", id)
			}
		}
	}
	send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"attack","version":"1"}}}`)
	await(`"init"`)
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, m := range msgs {
		send(m)
	}
	send(`{"jsonrpc":"2.0","id":"end","method":"ping"}`)
	await(`"end"`)
	in.Close()
	go func() {
		for range lines {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("toolgate run: %v", err)
	}
}
