package keys

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/store/sqlite"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// sharedDocs opens n handles on one shared store, as n replicas have. The
// store is SQLite here; the Docs conformance suite holds PostgreSQL to the
// same behaviour.
func sharedDocs(t *testing.T, n int) []store.Docs {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	out := make([]store.Docs, n)
	for i := range out {
		db, err := sqlite.Open(path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		out[i] = db
	}
	return out
}

func jwks(t *testing.T, p Provider) string {
	t.Helper()
	set, err := JWKS(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(set)
	return string(b)
}

// TestStoredKeysSharedByReplicas: replicas starting together create one
// key; a token one signs verifies on the others; a rotation by one is seen
// by the others on reload, and every replica publishes the same JWKS.
func TestStoredKeysSharedByReplicas(t *testing.T) { storedKeysShared(t, sharedDocs(t, 3)) }

// TestStoredKeysSharedByReplicasPostgres is the same on PostgreSQL, where
// replicas keep their keys.
func TestStoredKeysSharedByReplicasPostgres(t *testing.T) {
	url := pgtest.Shared(t).Database(t)
	docs := make([]store.Docs, 3)
	for i := range docs {
		db, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		docs[i] = db
	}
	storedKeysShared(t, docs)
}

func storedKeysShared(t *testing.T, docs []store.Docs) {
	ctx := context.Background()
	c := &clock{time.Now()}
	cfg := Config{Algorithm: string(ES256), RotateAfter: 24 * time.Hour, Retain: 2 * time.Hour}
	replicas := make([]*Stored, 3)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenStored(ctx, docs[i], "the test store", cfg, FileOptions{Now: c.now})
			if err != nil {
				t.Error(err)
				return
			}
			replicas[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	a0, _ := replicas[0].Active(ctx)
	for i, r := range replicas {
		r.Reload(ctx)
		if a, err := r.Active(ctx); err != nil || a.ID != a0.ID {
			t.Fatalf("replica %d signs with %v (%v), replica 0 with %s", i, a, err, a0.ID)
		}
	}
	tok, err := NewTokens(replicas[1], "toolgate").Sign(ctx, "test+jwt", claims(c, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if _, err := NewTokens(replicas[2], "toolgate").Verify(ctx, tok, "test+jwt", &out); err != nil {
		t.Fatalf("a token of replica 1 on replica 2: %v", err)
	}

	// Replica 2 rotates; a token it signs with the new key verifies on
	// replica 0, which reloads when it meets the unknown kid.
	k2, err := replicas[2].Rotate(ctx)
	if err != nil || k2.ID == a0.ID {
		t.Fatalf("rotate: %v %v", k2, err)
	}
	tok2, _ := NewTokens(replicas[2], "toolgate").Sign(ctx, "test+jwt", claims(c, time.Hour))
	if _, err := NewTokens(replicas[0], "toolgate").Verify(ctx, tok2, "test+jwt", &out); err != nil {
		t.Fatalf("a token signed with the rotated key on another replica: %v", err)
	}
	for _, r := range replicas {
		r.Reload(ctx)
	}
	if j := jwks(t, replicas[0]); j != jwks(t, replicas[1]) || j != jwks(t, replicas[2]) || strings.Count(j, `"kid"`) != 2 {
		t.Fatalf("JWKS differ or miss a key:\n%s\n%s\n%s", j, jwks(t, replicas[1]), jwks(t, replicas[2]))
	}
	// The old key still verifies its tokens until it is past Retain, then
	// it is dropped from the store by whoever looks next.
	if _, err := NewTokens(replicas[1], "toolgate").Verify(ctx, tok, "test+jwt", &out); err != nil {
		t.Fatalf("a token of the retired key: %v", err)
	}
	c.t = c.t.Add(3 * time.Hour)
	if err := replicas[1].MaybeRotate(ctx); err != nil {
		t.Fatal(err)
	}
	replicas[0].Reload(ctx)
	if j := jwks(t, replicas[0]); strings.Count(j, `"kid"`) != 1 || strings.Contains(j, a0.ID) {
		t.Fatalf("after retention: %s", j)
	}
	// Only one replica rotated when the key came due, whoever looked.
	c.t = c.t.Add(24 * time.Hour)
	for _, r := range replicas {
		if err := r.MaybeRotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if j := jwks(t, replicas[0]); strings.Count(j, `"kid"`) != 2 {
		t.Fatalf("due rotation by three replicas: %s", j)
	}
}

// TestStoredKeysRefuseTampering: a key whose private half does not match
// its kid, or whose algorithm is not the indexed one, is refused.
func TestStoredKeysRefuseTampering(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Algorithm: string(EdDSA)}
	_, otherPEM, err := newKey(Config{Algorithm: string(EdDSA)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, tamper := range map[string]func(*storedKeys){
		"swapped private key": func(d *storedKeys) { d.Keys[0].Private = string(otherPEM) },
		"wrong algorithm":     func(d *storedKeys) { d.Keys[0].Algorithm = string(jose.ES256) },
		"not PEM":             func(d *storedKeys) { d.Keys[0].Private = "x" },
	} {
		t.Run(name, func(t *testing.T) {
			docs := sharedDocs(t, 1)[0]
			s, err := OpenStored(ctx, docs, "db", cfg, FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			docs.UpdateDoc(ctx, DocName, func(cur []byte) ([]byte, error) {
				d := &storedKeys{}
				json.Unmarshal(cur, d)
				tamper(d)
				return json.Marshal(d)
			})
			if err := s.Reload(ctx); err == nil {
				t.Fatal("a tampered key was loaded")
			}
			if _, err := OpenStored(ctx, docs, "db", cfg, FileOptions{ReadOnly: true}); err == nil {
				t.Fatal("a tampered key was opened")
			}
		})
	}
}
