package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// state is where toolgate's state lives: the SQLite database and key files
// of the data directory (one host), or a PostgreSQL database that replicas
// share, with the keys and pins in it too.
type state struct {
	db      store.Backend
	dataDir string
	// pg is the database when the state is shared (nil for SQLite).
	pg *postgres.DB
	// where names the state in messages (a path, or a URL without its
	// password).
	where string
}

// keyStore is what the task, credential and approval stages need of the
// signing keys: keys.File in a data directory, keys.Stored in a shared
// store.
type keyStore interface {
	keys.Provider
	keys.Reloader
	MaybeRotate(ctx context.Context) error
}

// openState opens the configured store for what the command does there:
// readData writes nothing (check, verify, query); only createData creates
// the SQLite database (a PostgreSQL database is the operator's, and its
// schema is migrated unless store_migrate: off or readData).
func openState(cfg *config.Config, dataDir string, access dataAccess) (*state, error) {
	spec, err := config.ResolveStore(cfg)
	if err != nil {
		return nil, err
	}
	st := &state{dataDir: dataDir}
	if !config.IsPostgres(spec) {
		path, err := databaseIn(dataDir, access)
		if err != nil {
			return nil, err
		}
		db, err := sqlite.Open(path, sqlite.Options{ReadOnly: access == readData})
		if err != nil {
			return nil, err
		}
		st.db, st.where = db, path
		return st, nil
	}
	db, err := postgres.Open(context.Background(), spec, postgres.Options{ReadOnly: access == readData, NoMigrate: cfg.StoreMigrate == "off"})
	if err != nil {
		return nil, err
	}
	st.db, st.pg, st.where = db, db, db.URL()
	return st, nil
}

// shared tells whether replicas share the state.
func (s *state) shared() bool { return s.pg != nil }

// keys opens the signing keys: in the shared store, or in the data
// directory. Only createData creates the first key.
func (s *state) keys(cfg *config.Config, access dataAccess) (keyStore, error) {
	readOnly := access != createData
	if s.shared() {
		return keys.OpenStored(context.Background(), s.db, s.where, cfg.Keys, keys.FileOptions{ReadOnly: readOnly})
	}
	return keys.OpenFile(s.dataDir, cfg.Keys, keys.FileOptions{ReadOnly: readOnly})
}

// redactionKey is the audit trail's redaction key (created on first use),
// which the approvals' stored calls share.
func (s *state) redactionKey() ([]byte, error) {
	if s.shared() {
		return audit.LoadOrCreateSharedRedactionKey(context.Background(), s.db)
	}
	return audit.LoadOrCreateRedactionKey(s.dataDir)
}

// pins opens one server's tool pins.
func (s *state) pins(server string) (*pin.Store, error) {
	if s.shared() {
		return pin.OpenShared(s.db, server)
	}
	return pin.Open(s.dataDir, server)
}

// subscribe calls fn for each notification on channel of a shared store
// (another replica changed something; "" when some may have been missed),
// once listen runs. Without a shared store there is nothing to hear: the
// processes of a data directory look on their own schedule.
func (s *state) subscribe(channel string, fn func(payload string)) {
	if s.shared() {
		s.pg.Subscribe(channel, fn)
	}
}

// listen starts hearing what subscribe asked for, until ctx ends.
func (s *state) listen(ctx context.Context) {
	if s.shared() {
		go s.pg.Listen(ctx, nil)
	}
}

// ready is the shared store's readiness check: the database answers.
func (s *state) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.pg.Pool().Ping(ctx); err != nil {
		return fmt.Errorf("the database %s does not answer: %w", s.where, err)
	}
	return nil
}

// historyDir is the directory of the history stage's cross-process counter:
// the data directory for SQLite; none for a shared store, where every
// recall asks the database (other replicas are on other hosts).
func (s *state) historyDir() string {
	if s.shared() {
		return ""
	}
	return s.dataDir
}

func (s *state) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	return s.db.Close()
}

// String names the state for messages.
func (s *state) String() string { return fmt.Sprint(s.where) }
