package history

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// benchWindows are the windows of examples/injection/toolgate.yaml.
func benchWindows() map[string]Window {
	return map[string]Window{
		"payments_1h":     {Op: "count", Actions: []string{"bank/send_money"}, Within: time.Hour, IncludeCurrent: true},
		"paid_24h":        {Op: "sum", Actions: []string{"bank/send_money"}, Field: "amount", Unit: "0.01", Within: 24 * time.Hour, IncludeCurrent: true},
		"refunds_1h":      {Op: "count", Actions: []string{"shop/refund"}, Within: time.Hour, Per: "principal", IncludeCurrent: true},
		"order_looked_up": {Op: "formerly", Actions: []string{"shop/get_order"}, Within: time.Hour},
	}
}

// BenchmarkRecall measures the history stage on the decision path: Recall
// of a payment (four windows, one of them per principal, and the
// provenance check of its arguments) in a task with 1,000 earlier calls —
// 100 of them reads of untrusted e-mail whose values are indexed — kept in
// SQLite, with the shared counter of a data directory. It reports the p50
// and p99 of single recalls.
func BenchmarkRecall(b *testing.B) {
	benchRecall(b, 0)
}

// BenchmarkRecallUnderLoad is BenchmarkRecall while the stage is busy
// with other tasks' calls, as in a gateway serving several agents: two
// goroutines each run a call of their own task every millisecond (recall,
// admit, observe; every second call reads an untrusted e-mail whose values
// are indexed, the others are payments a window counts), so the history
// writer commits to SQLite throughout and the stage's locks and pools are
// shared. The load is paced, not flat out: it stands for 2,000 calls/s of
// other traffic, not for a CPU taken away.
func BenchmarkRecallUnderLoad(b *testing.B) {
	benchRecall(b, 2)
}

func benchRecall(b *testing.B, loaders int) {
	dir := b.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := New(Config{Windows: benchWindows()}, Options{Store: db, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	task := &call.Task{ID: "t-bench", Purpose: "Pay the suppliers their invoices from my inbox to DE44 5001 0517 5407 3249 31"}
	mk := func(task *call.Task, server, tool string, labels []string, input string, at time.Time) *call.Call {
		c := &call.Call{ID: uuid.NewString(), Time: at, Task: task, Input: json.RawMessage(input)}
		c.Principal = call.Principal{Kind: call.KindAgent, ID: "bench"}
		c.Server.Name, c.Tool.Name, c.Tool.Labels = server, tool, labels
		return c
	}
	// one runs the i-th call of a task's history: every tenth an untrusted
	// e-mail (every second for the loaders), then payments, then order
	// look-ups.
	one := func(task *call.Task, i, mailEvery int, at time.Time) error {
		var c *call.Call
		var out []byte
		switch {
		case i%mailEvery == 0:
			c = mk(task, "mail", "read_email", []string{"untrusted"}, `{"id":"m"}`, at)
			out, _ = json.Marshal(map[string]any{"content": []any{map[string]any{"type": "text", "text": fmt.Sprintf(
				"From: billing%d@supplier%d.example\nInvoice %d: %d.50 due, pay to GB%02d NWBK 6016 1331 %04d 19, details at https://supplier%d.example/inv/%d", i, i, 7000+i, 100+i, i%90+10, i%10000, i, i)}}})
		case i%10 < 5:
			c = mk(task, "bank", "send_money", []string{"external", "payments"}, fmt.Sprintf(`{"iban":"DE44500105175407324931","amount":%d.25}`, i%50), at)
		default:
			c = mk(task, "shop", "get_order", nil, fmt.Sprintf(`{"order":"%d"}`, 80000+i), at)
		}
		if err := s.Recall(ctx, c); err != nil {
			return err
		}
		s.Admit(ctx, c)
		return s.Observe(ctx, c, &call.Outcome{Status: call.OutcomeOK, Result: out})
	}
	for i := 0; i < 1000; i++ {
		if err := one(task, i, 10, now.Add(-23*time.Hour).Add(time.Duration(i)*80*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.w.flush(ctx); err != nil {
		b.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var background atomic.Int64
	errs := make(chan error, loaders)
	for l := 0; l < loaders; l++ {
		wg.Add(1)
		go func(l int) {
			defer wg.Done()
			t := &call.Task{ID: fmt.Sprintf("t-load-%d", l), Purpose: "Pay this month's invoices"}
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if err := one(t, i, 2, time.Now()); err != nil {
					errs <- err
					return
				}
				background.Add(1)
			}
		}(l)
	}

	in := json.RawMessage(`{"iban":"GB33BUKB20201555555555","amount":420.00,"memo":"Invoice 7114, see https://supplier14.example/inv/14"}`)
	// Each recall is timed on its own, by the wall clock and by the CPU
	// time of its thread (the goroutine is locked to it): on a loaded
	// machine the wall clock's tail is mostly waiting for a CPU.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	durs := make([]time.Duration, 0, b.N)
	cpus := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	began, bgBefore := time.Now(), background.Load()
	for b.Loop() {
		c := mk(task, "bank", "send_money", []string{"external", "payments"}, "", now)
		c.Input = in
		cpu0, cpuOK := threadCPU()
		start := time.Now()
		if err := s.Recall(ctx, c); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
		if cpu1, ok := threadCPU(); ok && cpuOK {
			cpus = append(cpus, cpu1-cpu0)
		}
		if len(c.Flow.Tainted) == 0 || c.Windows["paid_24h"] == nil {
			b.Fatalf("unexpected recall: %+v %v", c.Flow, c.Windows)
		}
	}
	b.StopTimer()
	elapsed, bg := time.Since(began), background.Load()-bgBefore
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
	if len(cpus) == len(durs) {
		sort.Slice(cpus, func(i, j int) bool { return cpus[i] < cpus[j] })
		b.ReportMetric(float64(cpus[len(cpus)/2].Nanoseconds()), "cpu-p50-ns")
		b.ReportMetric(float64(cpus[len(cpus)*99/100].Nanoseconds()), "cpu-p99-ns")
	}
	if loaders > 0 {
		b.ReportMetric(float64(bg)/elapsed.Seconds(), "bg-calls/s")
	}
}

// BenchmarkObserveUntrusted measures indexing one untrusted output of about
// 2 KB (an e-mail) after the call ran; it is off the decision path.
func BenchmarkObserveUntrusted(b *testing.B) {
	s, err := New(Config{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := ""
	for i := 0; len(text) < 2000; i++ {
		text += fmt.Sprintf("Line %d: please pay %d.00 to GB29 NWBK 6016 1331 9268 19 or mail ops%d@vendor.example, see https://vendor.example/x/%d. ", i, i*13, i, i)
	}
	out, _ := json.Marshal(map[string]any{"content": []any{map[string]any{"type": "text", "text": text}}})
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.indexOutput(out, nil, true)
	}
}
