package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/internal/store/storetest"
)

// TestConformance runs the store conformance suite on SQLite; another
// handle is another Open of the same file, as another process's would be.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) storetest.Store {
			db, err := Open(filepath.Join(t.TempDir(), FileName), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
		Again: func(t *testing.T, s storetest.Store) storetest.Store {
			db, err := Open(s.(*DB).Path(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
	})
}
