package cli

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/store/sqlite"
	"github.com/toolgate/toolgate/internal/testutil"
)

// TestReadyzProbesTheTrail: /readyz of a serve whose trail cannot be
// written (truncated under it) says so before any call has failed.
func TestReadyzProbesTheTrail(t *testing.T) {
	bin := testutil.Toolgate(t)
	dir := t.TempDir()
	seedTrail(t, dir).Close() // records and a final checkpoint
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec(`DELETE FROM audit_records WHERE seq > 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	base := startServe(t, exec.Command(bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0"))
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(out["audit"], "truncated") {
		t.Fatalf("/readyz = %d %v, want 503 naming the truncated trail", resp.StatusCode, out)
	}
	if out["policies"] != "ok" {
		t.Errorf("policies: %q", out["policies"])
	}
}
