package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/store/postgres"
)

func newStoreCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store migrate",
		Short: "Manage the PostgreSQL store that replicas share",
		Long: `store works on the configured store (store: in the config, or
TOOLGATE_STORE): a postgres:// URL that several 'toolgate serve' replicas
share. See docs/scale-out.md.`,
	}
	cmd.AddCommand(newStoreMigrateCmd(g))
	return cmd
}

func newStoreMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the PostgreSQL store's schema up to date",
		Long: `migrate applies the schema migrations the database lacks, in one
transaction, and prints the version before and after. Replicas do the same
at start unless store_migrate: off; run it yourself when they may not (a
database user without DDL rights, a change window). A database migrated by a
newer toolgate is refused: upgrade toolgate instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			spec, err := config.ResolveStore(cfg)
			if err != nil {
				return err
			}
			if !config.IsPostgres(spec) {
				return usageError{errors.New("the store is the data directory's SQLite database, which needs no migration: set store: (or " + config.StoreEnv + ") to a postgres:// URL")}
			}
			// Open without migrating (the check that it is not newer still
			// runs inside Migrate).
			db, err := postgres.Open(cmd.Context(), spec, postgres.Options{NoMigrate: true, SkipSchemaCheck: true})
			if err != nil {
				return err
			}
			defer db.Close()
			from, err := db.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			if from == postgres.SchemaVersion {
				fmt.Fprintf(g.stdout, "%s: schema at version %d, up to date\n", db.URL(), from)
				return nil
			}
			fmt.Fprintf(g.stdout, "%s: schema migrated from version %d to %d\n", db.URL(), from, postgres.SchemaVersion)
			return nil
		},
	}
}
