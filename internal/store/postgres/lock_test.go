package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestLockClassesApart: the advisory locks of different things never meet,
// even where their second keys are equal: work run Exclusively under a name
// runs while a principal of the same name creates an approval (before, the
// two classes were one value, and the work was skipped), and neither waits
// on a document of that name.
func TestLockClassesApart(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtestDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const name = `Agent::"exporter"`
	for _, class := range []int32{lockApprovals, lockDocs} {
		err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`, class, name); err != nil {
				return err
			}
			ran, err := db.Exclusively(ctx, name, func(context.Context) error { return nil })
			if err != nil {
				return err
			}
			if !ran {
				t.Errorf("work named %q was skipped while lock class %#x held that name", name, class)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if lockDocs == lockApprovals || lockDocs == lockWork || lockApprovals == lockWork {
		t.Fatal("two lock classes share a value")
	}
}
