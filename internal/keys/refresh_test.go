package keys

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestJWKSFollowsOtherProcess: the JWKS one process serves shows a key
// another process sharing the data directory rotated in, at the next
// request (and so the key a verifier needs for that process's tokens).
func TestJWKSFollowsOtherProcess(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	serving := open(t, dir, EdDSA, c)
	other := open(t, dir, EdDSA, c)
	srv := httptest.NewServer(JWKSHandler(serving))
	defer srv.Close()
	get := func() []string {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range set.Keys {
			ids = append(ids, k.KeyID)
		}
		return ids
	}
	before := get()
	for range 3 { // each rotation, even within the same second, is seen
		k, err := other.Rotate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ids := get(); len(ids) == 0 || ids[0] != k.ID || len(ids) != len(before)+1 {
			t.Fatalf("after another process rotated to %s, the JWKS has %q", k.ID, ids)
		}
		before = get()
	}
}

// TestIndexKeyIDsAreChecked: key ids in index.json are file names, so an
// index with an id that is not a thumbprint is refused before any path is
// built from it: no file outside the keys directory is read or deleted.
func TestIndexKeyIDsAreChecked(t *testing.T) {
	for _, kid := range []string{
		"../victim", "../../victim", "/tmp/victim", "a/b", `..\victim`, "", ".",
		strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("A", 42) + ".",
	} {
		dataDir := t.TempDir()
		keysDir := filepath.Join(dataDir, Dir)
		if err := os.MkdirAll(keysDir, 0o700); err != nil {
			t.Fatal(err)
		}
		victim := filepath.Join(dataDir, "victim.key")
		if err := os.WriteFile(victim, []byte("not yours"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Retired long ago: pruning would delete "<kid>.key".
		idx, _ := json.Marshal(map[string]any{"keys": []map[string]any{{"kid": kid, "alg": "EdDSA", "created": "2020-01-01T00:00:00Z", "retired": "2020-01-02T00:00:00Z"}}})
		if err := os.WriteFile(filepath.Join(keysDir, indexFile), idx, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFile(dataDir, Config{}, FileOptions{})
		if err == nil || !strings.Contains(err.Error(), "not a key id") {
			t.Errorf("kid %q: %v", kid, err)
		}
		if _, err := OpenFile(dataDir, Config{}, FileOptions{ReadOnly: true}); err == nil {
			t.Errorf("kid %q, read-only: accepted", kid)
		}
		if _, err := os.Stat(victim); err != nil {
			t.Fatalf("kid %q: the file outside the keys directory: %v", kid, err)
		}
	}
}
