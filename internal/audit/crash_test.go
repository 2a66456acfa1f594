package audit_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

const crashDirEnv = "TOOLGATE_AUDIT_CRASH_DIR"

// TestCrashKeepsAcknowledgedRecords runs a child process (this test binary
// again) that writes records under load from many goroutines and prints the
// id of each record whose WriteDecision returned; the test kills it with
// SIGKILL at a random moment, 20 times over on the same trail. Afterwards
// every acknowledged record must be in the trail, and verify must pass: the
// only thing a crash may leave is an unsigned tail, which the next run signs.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	crashRounds(t, audit.DurabilityFlush, 20)
}

// TestCrashKeepsAcknowledgedRecordsOS is the same with durability "os":
// a record is written to the operating system before WriteDecision
// returns, so killing toolgate loses none either (a power loss could lose
// the last 50 ms, which a kill cannot show).
func TestCrashKeepsAcknowledgedRecordsOS(t *testing.T) {
	crashRounds(t, audit.DurabilityOS, 10)
}

func crashRounds(t *testing.T, mode string, rounds int) {
	if testing.Short() {
		t.Skip("crash test: skipped in -short mode")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	acked := map[string]bool{}
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("TOOLGATE_AUDIT_CRASH_ROUND=%d", round), "TOOLGATE_AUDIT_CRASH_DURABILITY="+mode)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		var ids []string
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			r := bufio.NewReader(out)
			once := sync.Once{}
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // a line cut by the kill has no newline: not acknowledged
				}
				line = strings.TrimSuffix(line, "\n")
				switch {
				case line == "ready":
					once.Do(func() { close(ready) })
				case strings.HasPrefix(line, "ack "):
					ids = append(ids, strings.TrimPrefix(line, "ack "))
				}
			}
		}()
		// Kill at a random moment: sometimes while the child is still
		// opening the trail, mostly while it is writing.
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		if rng.IntN(5) > 0 {
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("round %d: the child did not start", round)
			}
		}
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		<-readDone
		cmd.Wait()
		for _, id := range ids {
			acked[id] = true
		}
		t.Logf("round %d: killed after %v, %d acknowledged", round, delay, len(ids))
	}
	if len(acked) < 15*rounds {
		t.Fatalf("only %d records were acknowledged: the load was too light to test anything", len(acked))
	}

	// A torn final write: the last kill may have cut a WAL frame short;
	// make sure of one by appending a partial frame of garbage. Recovery
	// must ignore it (its checksum does not match) and keep every commit.
	if wal, err := os.OpenFile(filepath.Join(dir, sqlite.FileName)+"-wal", os.O_WRONLY|os.O_APPEND, 0); err == nil {
		torn := make([]byte, 1000)
		for i := range torn {
			torn[i] = byte(rng.IntN(256))
		}
		if _, err := wal.Write(torn); err != nil {
			t.Fatal(err)
		}
		wal.Close()
	}
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	found := map[string]bool{}
	err = db.ScanAudit(context.Background(), store.AuditFilter{}, func(e *store.AuditEntry) error {
		if e.Kind == "decision" {
			found[e.DecisionID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for id := range acked {
		if !found[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records are missing", missing, len(acked))
	}
	rep := verify(t, dir)
	if !rep.OK {
		t.Fatalf("verify after crashes: %+v", rep)
	}
	// A SIGKILL loses nothing the kernel holds, so the rounds above cannot
	// tell synchronous=FULL (every commit fsynced) from NORMAL (a power loss
	// can take the last commits): the setting itself is checked.
	assertSynchronousFull(t, filepath.Join(dir, sqlite.FileName))
	if mode == audit.DurabilityOS && !slices.Contains(rep.Durability, audit.DurabilityOS) {
		t.Fatalf("verify does not report the checkpoints' durability: %+v", rep)
	}
	t.Logf("%d acknowledged, %d records in the trail, %d checkpoints, %d unsigned at the end", len(acked), rep.Records, rep.Checkpoints, rep.Unsigned)
}

// TestCrashChild is the child of TestCrashKeepsAcknowledgedRecords; it does
// nothing unless that test started it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashKeepsAcknowledgedRecords")
	}
	round := os.Getenv("TOOLGATE_AUDIT_CRASH_ROUND")
	tr, err := audit.OpenSQLite(audit.Config{Durability: os.Getenv("TOOLGATE_AUDIT_CRASH_DURABILITY"), Checkpoint: audit.CheckpointConfig{Records: 500, Interval: 100 * time.Millisecond}}, dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	say := func(w io.Writer, s string) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, s)
	}
	say(os.Stdout, "ready\n")
	stop := time.Now().Add(30 * time.Second) // a bound, in case nobody kills us
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				c := newFieldCall("fs/read")
				c.ID, c.Time = fmt.Sprintf("r%s-w%d-%d", round, w, i), time.Now()
				if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: call.Allow, Policies: []string{"read"}}, nil)); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(4)
				}
				say(os.Stdout, "ack "+c.ID+"\n")
				tr.WriteOutcome(context.Background(), &audit.OutcomeRecord{DecisionID: c.ID, Time: time.Now(), Status: call.OutcomeOK})
			}
		}()
	}
	wg.Wait()
	tr.Close()
}

// assertSynchronousFull checks that every connection to the trail's
// database, opened as the trail opens it, commits with synchronous=FULL in
// WAL mode: a decision record is on stable storage before its call runs.
func assertSynchronousFull(t *testing.T, path string) {
	t.Helper()
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	// Several connections at once: the pool opens a new one for each, and
	// each must have the setting (it is per connection in SQLite).
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var sync int
		var mode string
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if sync != 2 || mode != "wal" { // 2 = FULL (0 OFF, 1 NORMAL, 3 EXTRA)
			t.Fatalf("connection %d: synchronous=%d journal_mode=%s, want 2 (FULL) and wal", i, sync, mode)
		}
	}
}

// TestTrailIsSynchronousFull checks the durability setting of a new trail
// without the crash rounds (they are skipped in -short mode).
func TestTrailIsSynchronousFull(t *testing.T) {
	dir := t.TempDir()
	tr, err := audit.OpenSQLite(audit.Config{}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	assertSynchronousFull(t, filepath.Join(dir, sqlite.FileName))
}
