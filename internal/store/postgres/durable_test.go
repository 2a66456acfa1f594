package postgres

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestCommitsAreDurable: a database whose default is synchronous_commit =
// off (a commit returns before it is flushed) gets it on for toolgate's
// connections; a stronger setting is kept.
func TestCommitsAreDurable(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ server, want string }{
		{"off", "on"},
		{"remote_apply", "remote_apply"},
		{"local", "local"},
	} {
		u := pgtestDatabase(t)
		// The role's default stands for the server's: what a new
		// connection starts with.
		pu, _ := url.Parse(u)
		schema := pu.Query().Get("search_path")
		role := "r_" + strings.ReplaceAll(schema, "-", "_") + "_" + tt.server
		admin, err := Open(ctx, u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`CREATE ROLE ` + role + ` LOGIN SUPERUSER`,
			`ALTER ROLE ` + role + ` SET synchronous_commit = '` + tt.server + `'`,
		} {
			if _, err := admin.pool.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		admin.Close()
		pu.User = url.User(role)
		db, err := Open(ctx, pu.String(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if got != tt.want {
			t.Errorf("synchronous_commit %s by default: toolgate's connections have %s, want %s", tt.server, got, tt.want)
		}
	}
}
