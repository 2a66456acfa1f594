package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestPostgresStoreCLI: with TOOLGATE_STORE naming a PostgreSQL database,
// the operator's commands work on the database, not the data directory:
// migrate brings the schema up to date, tasks and their signing keys live
// in the database (the data directory stays empty of state), a revocation
// there is enforced, and the trail and pins are read from there.
func TestPostgresStoreCLI(t *testing.T) {
	url := pgtest.Shared(t).Database(t)
	t.Setenv(config.StoreEnv, url)
	data := filepath.Join(t.TempDir(), "data")
	dd := "--data-dir=" + data

	out, stderr, code := taskCLI(t, "", "store", "migrate")
	if code != 0 || !strings.Contains(out, "migrated from version 0 to") || strings.Contains(out, "password") {
		t.Fatalf("migrate: %d %s %s", code, out, stderr)
	}
	if out, _, _ := taskCLI(t, "", "store", "migrate"); !strings.Contains(out, "up to date") {
		t.Fatalf("migrate again: %s", out)
	}

	pol := filepath.Join(t.TempDir(), "all.cedar")
	os.WriteFile(pol, []byte(`@id("all") permit(principal, action, resource);`), 0o600)
	tok, stderr, code := taskCLI(t, "", dd, "task", "create", "--agent", "bot", "--purpose", "p", "--tool", "fs/*")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	tok = strings.TrimSpace(tok)
	check := func() map[string]any {
		t.Helper()
		req, _ := json.Marshal(map[string]any{
			"subject": map[string]any{"type": "agent", "id": "bot"}, "action": map[string]any{"name": "fs/read"},
			"resource": map[string]any{"type": "server", "id": "fs"}, "context": map[string]any{"task_token": tok},
		})
		out, stderr, code := taskCLI(t, string(req), dd, "check", "--policy", pol, "-")
		if code != 0 {
			t.Fatalf("check: %d %s", code, stderr)
		}
		var resp map[string]any
		json.Unmarshal([]byte(out), &resp)
		return resp
	}
	if r := check(); r["decision"] != true {
		t.Fatalf("task in scope: %v", r)
	}
	list, _, _ := taskCLI(t, "", dd, "task", "list")
	id := strings.Fields(list)[0]
	if out, stderr, code := taskCLI(t, "", dd, "task", "revoke", id); code != 0 {
		t.Fatalf("revoke: %s %s", out, stderr)
	}
	if r := check(); r["decision"] != false {
		t.Fatalf("after revocation: %v", r)
	}
	// Nothing of the state went to the data directory.
	for _, f := range []string{"toolgate.db", "keys"} {
		if _, err := os.Stat(filepath.Join(data, f)); err == nil {
			t.Errorf("%s was created in the data directory", f)
		}
	}
	if out, stderr, code := taskCLI(t, "", dd, "pin", "list"); code != 0 || !strings.Contains(out, "no pins in postgres://") {
		t.Fatalf("pin list: %d %s %s", code, out, stderr)
	}
	if out, stderr, code := taskCLI(t, "", dd, "audit", "query"); code != 0 {
		t.Fatalf("audit query: %d %s %s", code, out, stderr)
	}

	// A store that is not PostgreSQL or SQLite is refused, without
	// repeating what may be a password.
	t.Setenv(config.StoreEnv, "mysql://u:s3cret@h/db")
	if _, stderr, code := taskCLI(t, "", dd, "task", "list"); code == 0 || strings.Contains(stderr, "s3cret") || !strings.Contains(stderr, config.StoreEnv) {
		t.Fatalf("a bad store: %d %s", code, stderr)
	}
}
