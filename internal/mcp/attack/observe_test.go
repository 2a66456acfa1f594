package attack

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// Content a server sends outside a tool result taints the task as a
// tool's output does: after a resource or prompt of an untrusted server was
// read, a policy that forbids a call after untrusted content denies the
// first tool call. (Without the observation the call is allowed: nothing
// untrusted was seen by a tool call before it.)
func TestContentReadOutsideToolsTaints(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("servers:\n  - {name: lax, labels: [untrusted]}\nmcp:\n  shutdown_timeout: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	policies := filepath.Join(dir, "p.cedar")
	rules := `@id("reads") permit (principal, action == Action::"lax/read_file", resource);
@id("not-after-untrusted") @reason("untrusted content was read in this task")
forbid (principal, action == Action::"lax/read_file", resource) when { context.flow.untrusted };`
	if err := os.WriteFile(policies, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"resources/read", "prompts/get"} {
		t.Run(method, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cmd := exec.Command(testutil.Toolgate(t), "--config", config, "--data-dir", data,
				"run", "--policy", policies, "--name", "lax", "--", os.Args[0])
			cmd.Env = append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+filepath.Join(t.TempDir(), "exec"))
			c := startCmd(t, cmd)
			c.send(`{"jsonrpc":"2.0","id":2,"method":"` + method + `","params":{"uri":"file:///inbox","name":"p"}}`)
			c.await("2")
			c.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/b"}}}`)
			c.await("3")
			c.close()
			var effects []string
			for _, d := range trail(t, config, data) {
				effects = append(effects, d.Effect)
			}
			if len(effects) != 1 || effects[0] != "deny" {
				t.Fatalf("effects %v; want the read after the %s denied", effects, method)
			}
		})
	}
}
