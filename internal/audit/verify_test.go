package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// writeTrail writes n decision records (every third denied) with a
// checkpoint every 10 records and, if closeIt, closes the trail (which signs
// the rest). It returns the trail when it is left open.
func writeTrail(t *testing.T, dir string, n int, closeIt bool) *audit.Trail {
	t.Helper()
	tr := openTrail(t, dir, audit.Config{Checkpoint: audit.CheckpointConfig{Records: 10, Interval: time.Hour}})
	for i := 1; i <= n; i++ {
		c := newFieldCall("fs/read")
		c.ID, c.Time = fmt.Sprintf("d%03d", i), time.Now()
		eff := call.Allow
		if i%3 == 0 {
			eff = call.Deny
		}
		if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: eff, Policies: []string{}}, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if closeIt {
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	return tr
}

func body(t *testing.T, db *sql.DB, seq int) []byte {
	t.Helper()
	var b []byte
	if err := db.QueryRow(`SELECT body FROM audit_records WHERE seq = ?`, seq).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func setBody(t *testing.T, db *sql.DB, seq int, b []byte) {
	t.Helper()
	if _, err := db.Exec(`UPDATE audit_records SET body = ? WHERE seq = ?`, b, seq); err != nil {
		t.Fatal(err)
	}
}

func execSQL(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDetectsTampering damages a real trail file in each way an
// attacker with write access to the database could, and checks that verify
// names the kind of damage and the first bad record.
func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name     string
		tamper   func(t *testing.T, db *sql.DB)
		kind     string // "" = verify passes
		firstBad uint64
	}{
		{"untouched", func(*testing.T, *sql.DB) {}, "", 0},
		{"edit a record", func(t *testing.T, db *sql.DB) {
			b := body(t, db, 18) // a deny: make it an allow
			setBody(t, db, 18, bytes.Replace(b, []byte(`"effect":"deny"`), []byte(`"effect":"allow"`), 1))
		}, audit.ProblemEdited, 18},
		{"edit the first record", func(t *testing.T, db *sql.DB) {
			setBody(t, db, 1, bytes.Replace(body(t, db, 1), []byte(`"tool":"read"`), []byte(`"tool":"list"`), 1))
		}, audit.ProblemEdited, 1},
		{"edit a signed record and rechain the rest", func(t *testing.T, db *sql.DB) {
			// The attacker fixes every later prev_hash; only the signed
			// checkpoint 20 can tell.
			setBody(t, db, 15, bytes.Replace(body(t, db, 15), []byte(`"effect":"deny"`), []byte(`"effect":"allow"`), 1))
			for s := 16; s <= 25; s++ {
				prev := sha256.Sum256(body(t, db, s-1))
				b := body(t, db, s)
				i := bytes.Index(b, []byte(`"prev_hash":"`)) + len(`"prev_hash":"`)
				copy(b[i:], hex.EncodeToString(prev[:]))
				setBody(t, db, s, b)
			}
		}, audit.ProblemRewritten, 11},
		{"delete a record", func(t *testing.T, db *sql.DB) {
			execSQL(t, db, `DELETE FROM audit_records WHERE seq = 23`)
		}, audit.ProblemMissing, 23},
		{"delete records and renumber", func(t *testing.T, db *sql.DB) {
			execSQL(t, db, `DELETE FROM audit_records WHERE seq = 23`)
			for s := 24; s <= 25; s++ {
				b := bytes.Replace(body(t, db, s), []byte(fmt.Sprintf(`{"seq":%d,`, s)), []byte(fmt.Sprintf(`{"seq":%d,`, s-1)), 1)
				execSQL(t, db, `UPDATE audit_records SET seq = ?, body = ? WHERE seq = ?`, s-1, b, s)
			}
		}, audit.ProblemEdited, 22},
		{"swap two records", func(t *testing.T, db *sql.DB) {
			a, b := body(t, db, 30), body(t, db, 31)
			setBody(t, db, 30, b)
			setBody(t, db, 31, a)
		}, audit.ProblemReordered, 30},
		{"swap two records and their numbers", func(t *testing.T, db *sql.DB) {
			a, b := body(t, db, 30), body(t, db, 31)
			a = bytes.Replace(a, []byte(`{"seq":30,`), []byte(`{"seq":31,`), 1)
			b = bytes.Replace(b, []byte(`{"seq":31,`), []byte(`{"seq":30,`), 1)
			setBody(t, db, 30, b)
			setBody(t, db, 31, a)
		}, audit.ProblemEdited, 29},
		{"truncate signed records", func(t *testing.T, db *sql.DB) {
			execSQL(t, db, `DELETE FROM audit_records WHERE seq > 36`)
		}, audit.ProblemTruncated, 37},
		{"forge a checkpoint", func(t *testing.T, db *sql.DB) {
			execSQL(t, db, `UPDATE audit_checkpoints SET body = replace(body, '"seq":20', '"seq":20 ') WHERE seq = 20`)
		}, audit.ProblemBadSignature, 20},
		{"malformed record", func(t *testing.T, db *sql.DB) {
			setBody(t, db, 12, []byte(`not json`))
		}, audit.ProblemMalformed, 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTrail(t, dir, 40, true)
			db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, db.SQL())
			db.Close()
			rep := verify(t, dir)
			if tc.kind == "" {
				if !rep.OK || rep.Records != 40 || rep.Unsigned != 0 || rep.Checkpoints != 4 {
					t.Fatalf("verify: %+v", rep)
				}
				return
			}
			if rep.OK || len(rep.Problems) == 0 {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Problems[0].Kind != tc.kind || rep.FirstBad != tc.firstBad {
				t.Fatalf("got first problem %+v (first bad %d), want %s at %d; all: %+v", rep.Problems[0], rep.FirstBad, tc.kind, tc.firstBad, rep.Problems)
			}
		})
	}
}

// TestVerifyUnsignedTail: records after the last checkpoint (a process
// that died before signing them) verify, and the report says how many are
// not signed, so a truncation there is reported as undetectable rather than
// passed over.
func TestVerifyUnsignedTail(t *testing.T) {
	dir := t.TempDir()
	tr := writeTrail(t, dir, 45, false) // checkpoints at 10…40; 41–45 unsigned
	rep := verify(t, dir)
	if !rep.OK || rep.LastCheckpoint != 40 || rep.Unsigned != 5 {
		t.Fatalf("verify: %+v", rep)
	}
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	execSQL(t, db.SQL(), `DELETE FROM audit_records WHERE seq > 43`)
	db.Close()
	rep = verify(t, dir)
	if !rep.OK || rep.Unsigned != 3 {
		t.Fatalf("verify: %+v", rep)
	}
	// A restarted trail signs what the dead one left unsigned.
	tr.Close()
	if rep = verify(t, dir); !rep.OK || rep.Unsigned != 0 {
		t.Fatalf("verify after close: %+v", rep)
	}
}

// TestTrailRefusesTruncatedStore: a trail that ends before its last
// checkpoint is not appended to (that would hide the truncation): writes
// fail, so calls are denied until an operator looks.
func TestTrailRefusesTruncatedStore(t *testing.T) {
	dir := t.TempDir()
	writeTrail(t, dir, 20, true)
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	execSQL(t, db.SQL(), `DELETE FROM audit_records WHERE seq > 15`)
	db.Close()
	tr := openTrail(t, dir, audit.Config{})
	defer tr.Close()
	// Even a batch long enough to reach past the checkpoint is refused.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newFieldCall("fs/read")
			c.ID, c.Time = fmt.Sprintf("x%d", i), time.Now()
			err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: call.Allow}, nil))
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("err = %v", err)
			}
		}()
	}
	wg.Wait()
	if tr.Healthy() == nil {
		t.Fatal("Healthy() does not report the truncated trail")
	}
}

// TestVerifyUntrustedKey: checkpoints signed by a key verify does not trust
// fail (an attacker who re-signed the trail with a new key).
func TestVerifyUntrustedKey(t *testing.T) {
	dir := t.TempDir()
	writeTrail(t, dir, 12, true)
	other := t.TempDir()
	if _, err := audit.LoadOrCreateSigningKey(other); err != nil {
		t.Fatal(err)
	}
	keys, _ := audit.LoadPublicKeys(filepath.Join(other, audit.PublicKeysFile))
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	defer db.Close()
	rep, err := audit.Verify(context.Background(), db, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problems[0].Kind != audit.ProblemBadSignature {
		t.Fatalf("%+v", rep)
	}
}

// TestProbe: Probe goes through the writer and the store, so it finds a
// trail that cannot be written before any call does (Healthy, which only
// remembers the last write, says nothing yet), and it adds no record.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, audit.Config{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tr.Probe(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, dir); !rep.OK || rep.Records != 0 {
		t.Fatalf("probes wrote records: %+v", rep)
	}
	if err := tr.Probe(ctx); err == nil {
		t.Fatal("a closed trail probes fine")
	}

	// A trail truncated under toolgate: nothing has been written yet.
	dir = t.TempDir()
	writeTrail(t, dir, 20, true)
	db, _ := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
	execSQL(t, db.SQL(), `DELETE FROM audit_records WHERE seq > 15`)
	db.Close()
	tr = openTrail(t, dir, audit.Config{})
	defer tr.Close()
	if err := tr.Healthy(); err != nil {
		t.Fatalf("Healthy before any write: %v", err)
	}
	if err := tr.Probe(ctx); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Probe = %v, want the truncation", err)
	}
}
