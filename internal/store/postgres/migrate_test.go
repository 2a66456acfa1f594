package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestMigrations: replicas starting together apply each migration once;
// a database migrated by a newer toolgate is refused, and one that lacks
// migrations is refused where migrating is not allowed.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	url := pgtestDatabase(t)

	// Read-only and no-migrate opens refuse an empty database.
	for _, opt := range []Options{{ReadOnly: true}, {NoMigrate: true}} {
		if _, err := Open(ctx, url, opt); err == nil || !strings.Contains(err.Error(), "toolgate store migrate") {
			t.Fatalf("open %+v of an unmigrated database: %v", opt, err)
		}
	}
	var wg sync.WaitGroup
	dbs := make([]*DB, 4)
	errs := make([]error, 4)
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(ctx, url, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var n, v int
	if err := dbs[0].pool.QueryRow(ctx, `SELECT count(*), max(version) FROM toolgate_schema`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion || v != SchemaVersion {
		t.Fatalf("%d migrations recorded up to version %d, want %d", n, v, SchemaVersion)
	}
	if from, err := dbs[0].Migrate(ctx); err != nil || from != SchemaVersion {
		t.Fatalf("migrating again: from %d, %v", from, err)
	}
	ro, err := Open(ctx, url, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.pool.Exec(ctx, `INSERT INTO audit_cursors VALUES ('x', 1)`); err == nil {
		t.Fatal("a read-only handle wrote")
	}
	ro.Close()

	// A newer toolgate migrated the database: this one refuses it, however
	// it opens.
	if _, err := dbs[0].pool.Exec(ctx, `INSERT INTO toolgate_schema (version) VALUES ($1)`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []Options{{}, {ReadOnly: true}, {NoMigrate: true}} {
		if _, err := Open(ctx, url, opt); !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("open %+v of a newer schema: %v", opt, err)
		}
	}
}
