package enforce

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/history"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

const limitPolicies = `
@id("pay") permit(principal, action == Action::"bank/pay", resource);
@id("one-an-hour") @reason("at most 1 payment an hour")
forbid(principal, action == Action::"bank/pay", resource) when { context.windows.pays_1h > 1 };
@id("small") @reason("at most 100")
forbid(principal, action == Action::"bank/pay", resource) when { context.input.amount > 100 };
`

// process is one toolgate process of a data directory: its own database
// handle, history stage, audit trail and pipeline.
func process(t *testing.T, dir string, n int) *Pipeline {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := history.New(history.Config{Windows: map[string]history.Window{
		"pays_1h": {Op: "count", Actions: []string{"bank/pay"}, Within: time.Hour, IncludeCurrent: true},
	}}, history.Options{Store: db, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := audit.OpenJSONLFile(filepath.Join(dir, "audit"+strconv.Itoa(n)+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close(); h.Close(); db.Close() })
	set, err := policy.NewSet("org", []policy.Source{{Name: "p.cedar", Text: []byte(limitPolicies)}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Policies: policy.NewStaticEngine(set), History: h, Audit: sink})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func payment(amount int) *call.Call {
	return &call.Call{
		Principal: call.Principal{Kind: call.KindAgent, ID: "a"},
		Task:      &call.Task{ID: "t", Root: "t"},
		Server:    call.Server{Name: "bank"},
		Tool:      call.Tool{Name: "pay"},
		Input:     json.RawMessage(`{"amount":` + strconv.Itoa(amount) + `}`),
	}
}

// TestWindowLimitHoldsForCallsSideBySide: ten payments sent at once under
// "at most 1 payment an hour", through two processes of one data
// directory, run exactly once. On the code that counted a call only when it
// was forwarded, all ten ran.
func TestWindowLimitHoldsForCallsSideBySide(t *testing.T) {
	dir := t.TempDir()
	ps := []*Pipeline{process(t, dir, 0), process(t, dir, 1)}
	var ran atomic.Int32
	fwd := func(context.Context, *call.Call, *call.Credential) call.Outcome {
		ran.Add(1)
		return call.Outcome{Status: call.OutcomeOK, Result: []byte(`{"content":[]}`)}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(p *Pipeline) {
			defer wg.Done()
			<-start
			p.Execute(context.Background(), payment(5), fwd)
		}(ps[i%2])
	}
	close(start)
	wg.Wait()
	if n := ran.Load(); n != 1 {
		t.Fatalf("%d of 10 payments ran under a limit of 1 an hour", n)
	}
	for i, p := range ps {
		if d := p.Execute(context.Background(), payment(5), fwd); d.Effect != call.Deny {
			t.Fatalf("process %d: another payment in the hour: %+v", i, d)
		}
	}
}

// TestWindowPlaceReleased: a payment denied for another reason (too large)
// or never forwarded does not use up the hour's one payment.
func TestWindowPlaceReleased(t *testing.T) {
	dir := t.TempDir()
	p := process(t, dir, 0)
	fwd := func(context.Context, *call.Call, *call.Credential) call.Outcome {
		return call.Outcome{Status: call.OutcomeOK}
	}
	if d := p.Execute(context.Background(), payment(500), fwd); d.Effect != call.Deny {
		t.Fatalf("a payment of 500: %+v", d)
	}
	p.cfg.Mint = mintFunc(func() error { return Errorf("credential.mint_failed", "signer down") })
	if d := p.Execute(context.Background(), payment(5), fwd); d.Effect != call.Deny || d.Stage != StageCredential {
		t.Fatalf("a payment whose credential failed: %+v", d)
	}
	p.cfg.Mint = nil
	if d := p.Execute(context.Background(), payment(5), fwd); d.Effect != call.Allow {
		t.Fatalf("the hour's first payment that runs: %+v", d)
	}
	if d := p.Execute(context.Background(), payment(5), fwd); d.Effect != call.Deny {
		t.Fatalf("the second: %+v", d)
	}
}
