// Command audit measures the audit trail's append rate: W writers call
// WriteDecision on the real sqlite trail (fsync at every commit) for a fixed
// time, as a gateway's concurrent requests would; it prints records per
// second and the latency of WriteDecision, then verifies the trail.
//
//	go run ./bench/audit -writers 512 -duration 10s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

func main() {
	writers := flag.Int("writers", 512, "concurrent writers")
	duration := flag.Duration("duration", 10*time.Second, "how long to write (at most 2m)")
	dir := flag.String("dir", "", "data directory (default: a new temporary one, removed after)")
	flag.Parse()
	if *duration > 2*time.Minute {
		*duration = 2 * time.Minute
	}
	if err := run(*writers, *duration, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench/audit:", err)
		os.Exit(1)
	}
}

func run(writers int, duration time.Duration, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "toolgate-bench-audit-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	tr, err := audit.OpenSQLite(audit.Config{}, dir, slog.Default())
	if err != nil {
		return err
	}
	base := record()
	ctx := context.Background()
	stop := time.Now().Add(duration)
	lat := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				r := *base
				r.DecisionID = fmt.Sprintf("w%d-%d", w, i)
				r.Time = time.Now().UTC()
				t0 := time.Now()
				if err := tr.WriteDecision(ctx, &r); err != nil {
					fmt.Fprintln(os.Stderr, "write:", err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := tr.Close(); err != nil {
		return err
	}
	cpu := cpuTime() - cpu0
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return fmt.Errorf("nothing was written")
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	fmt.Printf("writers %d, %v: %d records, %.0f records/s; WriteDecision p50 %v, p99 %v, max %v; CPU %.1f µs/record\n",
		writers, elapsed.Round(time.Millisecond), len(all), float64(len(all))/elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond),
		float64(cpu.Microseconds())/float64(len(all)))

	keys, err := audit.LoadPublicKeys(filepath.Join(dir, audit.PublicKeysFile))
	if err != nil {
		return err
	}
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	t0 := time.Now()
	rep, err := audit.Verify(ctx, db, keys)
	if err != nil {
		return err
	}
	fmt.Printf("verify: ok=%v, %d records, %d checkpoints, %v\n", rep.OK, rep.Records, rep.Checkpoints, time.Since(t0).Round(time.Millisecond))
	if !rep.OK {
		return fmt.Errorf("the trail does not verify: %+v", rep.Problems)
	}
	return nil
}

// record is a typical decision: an agent on a task calling a tool with a
// few arguments, one a URL with a password in it (redacted).
func record() *audit.Record {
	c := &call.Call{
		ID: "bench", Time: time.Now(),
		Principal: call.Principal{Kind: call.KindAgent, ID: "agent-7", Groups: []string{"analysts"}, Owner: "alice"},
		Chain:     []string{"agent-7"},
		Task:      &call.Task{ID: "task-42", Purpose: "quarterly revenue report"},
		Server:    call.Server{Name: "db"},
		Tool:      call.Tool{Name: "query"},
		Input:     json.RawMessage(`{"sql":"SELECT id, name FROM customers WHERE region = $1 LIMIT 50","params":["emea"],"connection":"postgres://app:s3cret-pass@db.internal:5432/crm"}`),
	}
	return audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: call.Allow, Stage: "decide", Policies: []string{"db-read"},
		Reasons: []call.Reason{{Kind: call.ReasonPermit, Policy: "db-read", Message: "read-only queries are allowed"}}, PolicyVersion: "3f2a9c"},
		&call.Credential{ID: "jti-bench"})
}

// cpuTime is the CPU time (user and system) this process has used: unlike
// the rate, it hardly depends on what else the machine is doing.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
