package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
)

// TestJSONLGroupSync: concurrent decision records share fsyncs, every
// record is written whole and once, and outcomes ride on the decisions'
// fsyncs.
func TestJSONLGroupSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	j, err := OpenJSONLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				c := &call.Call{ID: id, Time: time.Now(), Principal: call.Principal{Kind: call.KindAgent, ID: "a"},
					Server: call.Server{Name: "s"}, Tool: call.Tool{Name: "t"}, Input: json.RawMessage(`{"q":"x"}`)}
				if err := j.WriteDecision(context.Background(), NewRecord(c, &call.Decision{ID: id, Effect: call.Allow}, nil)); err != nil {
					t.Error(err)
					return
				}
				if err := j.WriteOutcome(context.Background(), &OutcomeRecord{DecisionID: id, Time: time.Now(), Status: call.OutcomeOK}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	decisions := uint64(writers * each)
	if j.syncs == 0 || j.syncs >= decisions {
		t.Errorf("%d fsyncs for %d decision records: want fewer, shared", j.syncs, decisions)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Type       string `json:"type"`
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("a line is not a whole record: %v: %s", err, sc.Bytes())
		}
		seen[r.Type+":"+r.DecisionID]++
	}
	if len(seen) != 2*int(decisions) {
		t.Fatalf("%d distinct records, want %d", len(seen), 2*decisions)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s written %d times", k, n)
		}
	}
}

// TestJSONLCloseMakesEverythingDurable: outcomes are not waited for when
// written, so Close fsyncs what is still pending, and says so if it cannot.
func TestJSONLCloseMakesEverythingDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	j, err := OpenJSONLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &call.Call{ID: "d1", Time: time.Now(), Principal: call.Principal{Kind: call.KindAgent, ID: "a"}, Server: call.Server{Name: "s"}, Tool: call.Tool{Name: "t"}}
	if err := j.WriteDecision(context.Background(), NewRecord(c, &call.Decision{ID: "d1", Effect: call.Allow}, nil)); err != nil {
		t.Fatal(err)
	}
	if err := j.WriteOutcome(context.Background(), &OutcomeRecord{DecisionID: "d1", Time: time.Now(), Status: call.OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	if j.syncs != 1 || j.synced != 1 {
		t.Fatalf("before Close: %d fsyncs, %d records synced", j.syncs, j.synced)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j.syncs != 2 || j.synced != 2 {
		t.Fatalf("Close left the outcome unsynced: %d fsyncs, %d records synced", j.syncs, j.synced)
	}

	// A file that can no longer be synced or closed: Close reports it.
	j, err = OpenJSONLFile(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.WriteOutcome(context.Background(), &OutcomeRecord{DecisionID: "d1", Time: time.Now(), Status: call.OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	j.f.Close() // the descriptor is gone under the sink
	if err := j.Close(); err == nil {
		t.Fatal("Close of a file whose last records cannot be synced reported nothing")
	}
}

// TestJSONLDurabilityOS: with durability "os" a decision is written and not
// waited for an fsync; the flusher syncs it without being asked.
func TestJSONLDurabilityOS(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJSONLFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan uint64, 1000)
	j.onFlush = func() {
		j.syncMu.Lock()
		ticks <- j.synced
		j.syncMu.Unlock()
	}
	j.startFlusher()
	j.syncMu.Lock() // hold every sync: the write must not wait for one
	if err := j.WriteDecision(context.Background(), &Record{DecisionID: "a"}); err != nil {
		t.Fatal(err)
	}
	j.syncMu.Unlock()
	for synced := range ticks {
		if synced == 1 {
			break
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}
