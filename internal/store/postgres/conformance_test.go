package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgtestDatabase is a new, empty database on the test binary's server.
func pgtestDatabase(t *testing.T) string {
	t.Helper()
	return pgtest.Shared(t).Database(t)
}

// TestConformance runs the store conformance suite on PostgreSQL; another
// handle is another pool on the same database, as another replica's is.
func TestConformance(t *testing.T) {
	urls := map[*DB]string{}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) storetest.Store {
			url := pgtestDatabase(t)
			db, err := Open(context.Background(), url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			urls[db] = url
			return db
		},
		Again: func(t *testing.T, s storetest.Store) storetest.Store {
			db, err := Open(context.Background(), urls[s.(*DB)], Options{})
			if err != nil {
				t.Fatal(err)
			}
			urls[db] = urls[s.(*DB)]
			return db
		},
	})
}
