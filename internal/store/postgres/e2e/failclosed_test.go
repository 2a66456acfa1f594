package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	tgcall "github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/task"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

// TestUnconfirmedRevocationFailsClosed: a replica checks a task's
// revocation in the database on every call, so it denies the call of a
// task it cannot confirm, whether the database refuses connections (down)
// or stops answering on the connections it has (a network partition: the
// store's operation timeout ends the wait). The task stage itself denies,
// with its own code, before any other stage would.
func TestUnconfirmedRevocationFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("a real PostgreSQL")
	}
	ctx := context.Background()
	srv := pgtest.StartT(t)
	url, err := srv.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	// The replica reaches the database through a link the test can cut.
	mig, err := postgres.Open(ctx, url, postgres.Options{}) // migrating may take longer than the short timeout below
	if err != nil {
		t.Fatal(err)
	}
	mig.Close()
	link := srv.NewLink(t)
	db, err := postgres.Open(ctx, link.URL(url), postgres.Options{NoMigrate: true, OpTimeout: postgres.DefaultOpTimeout / 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The short operation timeout is what a partition meets: calls made
	// with a context of their own (a minute here, so that a loaded machine
	// does not fail them) are bounded by it instead.
	live, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ks, err := keys.OpenStored(live, db, db.URL(), keys.Config{}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := task.New(task.Config{}, task.Options{Tokens: keys.NewTokens(ks, "toolgate"), Tasks: db, Budgets: db})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(live, task.Caller{Local: true}, task.CreateRequest{Agent: "bot", Purpose: "p",
		Scope: task.Scope{Tools: []task.ToolRule{{Tool: "ledger/*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(ctx context.Context) error {
		c := &tgcall.Call{Principal: tgcall.Principal{Kind: tgcall.KindAgent, ID: "bot"}, TaskToken: iss.Token,
			Server: tgcall.Server{Name: "ledger"}, Tool: tgcall.Tool{Name: "note"}}
		_, err := svc.ResolveTask(ctx, c)
		return err
	}
	if err := resolve(live); err != nil {
		t.Fatalf("a live task: %v", err)
	}

	// Partition: the connections stay open, nothing comes back.
	link.Cut()
	err = resolve(ctx)
	var ce *tgcall.CodedError
	if !errors.As(err, &ce) || ce.Code != task.CodeStore {
		t.Fatalf("a task call while the database does not answer: %v", err)
	}
	link.Mend()
	if err := resolve(live); err != nil {
		t.Fatalf("after the link is back: %v", err)
	}

	// Down: connections are refused.
	if err := srv.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	err = resolve(ctx)
	if !errors.As(err, &ce) || ce.Code != task.CodeStore {
		t.Fatalf("a task call while the database is down: %v", err)
	}
}
