package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestSharedTrailAcrossReplicas: three replicas write one trail on one
// PostgreSQL database. Every record is committed before WriteDecision
// returns, the records of all replicas form one chain in one order,
// checkpoints written by any replica verify with the shared public key, and
// the same value is redacted to the same token whichever replica wrote it.
func TestSharedTrailAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Shared(t).Database(t)
	cfg := audit.Config{Checkpoint: audit.CheckpointConfig{Records: 7}}
	cfg.Redact.Arguments = map[string][]string{"bank/pay": {"iban"}}
	const replicas, per = 3, 40
	dbs := make([]*postgres.DB, replicas)
	trails := make([]*audit.Trail, replicas)
	for i := range replicas {
		db, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
		if trails[i], err = audit.OpenShared(ctx, cfg, db, t.TempDir(), nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for r, tr := range trails {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per / 2 {
					rec := &audit.Record{DecisionID: fmt.Sprintf("r%d-w%d-%d", r, w, i), Time: time.Now(), Server: "bank", Tool: "pay",
						Arguments: json.RawMessage(`{"iban":"DE00123","amount":5}`), Effect: call.Allow, Stage: "decide"}
					if err := tr.WriteDecision(ctx, rec); err != nil {
						t.Error(err)
						return
					}
					// Committed: another replica's handle reads it now.
					n := 0
					dbs[(r+1)%replicas].ScanAudit(ctx, store.AuditFilter{DecisionID: rec.DecisionID}, func(*store.AuditEntry) error { n++; return nil })
					if n != 1 {
						t.Errorf("record %s is not in the database after WriteDecision returned", rec.DecisionID)
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, tr := range trails {
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := audit.SharedPublicKeys(ctx, dbs[0])
	if err != nil || len(keys) != 1 {
		t.Fatalf("public keys: %d, %v (replicas must share one signing key)", len(keys), err)
	}
	rep, err := audit.Verify(ctx, dbs[0], keys)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Records != replicas*per || rep.Unsigned != 0 || rep.Checkpoints < replicas {
		t.Fatalf("verify: %+v", rep)
	}
	tokens := map[string]bool{}
	dbs[0].ScanAudit(ctx, store.AuditFilter{}, func(e *store.AuditEntry) error {
		var r struct {
			Arguments struct{ IBAN string }
		}
		json.Unmarshal(e.Body, &r)
		tokens[r.Arguments.IBAN] = true
		return nil
	})
	if len(tokens) != 1 || tokens["DE00123"] {
		t.Fatalf("redacted values: %v (one token for one value on every replica)", tokens)
	}
}

// TestSharedExportOnceAcrossReplicas: exporters of the same name on two
// replicas ship every record of the shared trail exactly once between
// them (one ships a batch at a time), not once each.
func TestSharedExportOnceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Shared(t).Database(t)
	var dbs []*postgres.DB
	for range 2 {
		db, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	tr, err := audit.OpenShared(ctx, audit.Config{}, dbs[0], t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if err := tr.WriteDecision(ctx, &audit.Record{DecisionID: fmt.Sprint("d", i), Time: time.Now(), Server: "s", Tool: "t", Effect: call.Allow}); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	var mu sync.Mutex
	shipped := map[uint64]int{}
	all := make(chan struct{})
	ship := func(_ context.Context, es []*store.AuditEntry) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range es {
			shipped[e.Seq]++
		}
		if len(shipped) == n {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		return nil
	}
	for _, db := range dbs {
		x := audit.NewExporter("siem", db, 7, time.Millisecond, nil, ship)
		defer x.Close()
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second): // a guard against hanging
		t.Fatalf("%d of %d records shipped", len(shipped), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for seq, c := range shipped {
		if c != 1 {
			t.Errorf("record %d shipped %d times", seq, c)
		}
	}
}
