package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// FuzzArchive: any archive file is verified or rejected, never a panic, and
// an archive Verify calls OK has no problems. Seeds: testdata/fuzz/FuzzArchive.
func FuzzArchive(f *testing.F) {
	f.Add([]byte("{\"seq\":1,\"prev_hash\":\"" + audit.GenesisHash + "\",\"type\":\"decision\"}\n"))
	f.Add([]byte("{\"checkpoint\":\"{\\\"type\\\":\\\"checkpoint\\\",\\\"seq\\\":1}\",\"signature\":\"AAAA\"}\n"))
	f.Add([]byte("\n\n{\"seq\":2}\n{\"checkpoint\":1}\n"))
	pub, _, _ := ed25519.GenerateKey(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "a.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := audit.OpenArchive(path)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(context.Background(), a, []ed25519.PublicKey{pub})
		if err == nil && rep.OK && len(rep.Problems) != 0 {
			t.Fatalf("OK with problems: %+v", rep)
		}
		if err == nil && rep.OK && rep.Checkpoints > 0 && bytes.Contains(data, []byte("checkpoint")) {
			// No checkpoint can be signed by a key made for this test run.
			t.Fatalf("a forged checkpoint verified: %q", data)
		}
	})
}

// TestArchiveReportsLikeTheDatabase: the same damage done to the database
// and to an archive of it is reported the same way — records that swapped
// places are "reordered", not deletions with a range running backwards.
func TestArchiveReportsLikeTheDatabase(t *testing.T) {
	// Each case changes the record lines (record seq → body) the same way
	// in both: for the database, by rewriting rows; for the archive, by
	// rewriting its lines.
	cases := []struct {
		name string
		kind string
		// do changes the bodies in record order (index 0 is record 1).
		do func(bodies [][]byte) [][]byte
	}{
		{"swap two records", audit.ProblemReordered, func(b [][]byte) [][]byte { b[29], b[30] = b[30], b[29]; return b }},
		{"swap two far apart", audit.ProblemReordered, func(b [][]byte) [][]byte { b[4], b[33] = b[33], b[4]; return b }},
		{"rotate three", audit.ProblemReordered, func(b [][]byte) [][]byte { b[10], b[11], b[12] = b[11], b[12], b[10]; return b }},
		{"edit", audit.ProblemEdited, func(b [][]byte) [][]byte {
			b[17] = bytes.Replace(b[17], []byte(`"effect":"deny"`), []byte(`"effect":"allow"`), 1)
			return b
		}},
		{"malformed", audit.ProblemMalformed, func(b [][]byte) [][]byte { b[11] = []byte(`not json`); return b }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTrail(t, dir, 40, true)
			db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var bodies [][]byte
			for s := 1; s <= 40; s++ {
				bodies = append(bodies, body(t, db.SQL(), s))
			}
			changed := tc.do(slices.Clone(bodies))
			// The archive of the damaged trail is the archive of the
			// original with its record lines changed likewise.
			var arch bytes.Buffer
			if _, _, err := audit.WriteArchive(context.Background(), db, &arch); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimRight(arch.String(), "\n"), "\n")
			i := 0
			for j, l := range lines {
				if !strings.HasPrefix(l, `{"checkpoint":`) {
					lines[j] = string(changed[i])
					i++
				}
			}
			path := filepath.Join(t.TempDir(), "trail.jsonl")
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for s, b := range changed {
				setBody(t, db.SQL(), s+1, b)
			}
			db.Close()

			fromDB := verify(t, dir)
			keys, err := audit.LoadPublicKeys(filepath.Join(dir, audit.PublicKeysFile))
			if err != nil {
				t.Fatal(err)
			}
			a, err := audit.OpenArchive(path)
			if err != nil {
				t.Fatal(err)
			}
			fromArchive, err := audit.Verify(context.Background(), a, keys)
			if err != nil {
				t.Fatal(err)
			}
			if fromDB.OK || fromDB.Problems[0].Kind != tc.kind {
				t.Fatalf("database: %+v", fromDB.Problems)
			}
			if !reflect.DeepEqual(fromDB.Problems, fromArchive.Problems) || fromDB.FirstBad != fromArchive.FirstBad {
				t.Fatalf("the archive is reported otherwise:\ndatabase: %+v\narchive:  %+v", fromDB.Problems, fromArchive.Problems)
			}
		})
	}
	// A deleted line is a deletion, a line twice is not a deletion.
	dir := t.TempDir()
	writeTrail(t, dir, 20, true)
	db, err := sqlite.Open(filepath.Join(dir, sqlite.FileName), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var arch bytes.Buffer
	if _, _, err := audit.WriteArchive(context.Background(), db, &arch); err != nil {
		t.Fatal(err)
	}
	db.Close()
	keys, _ := audit.LoadPublicKeys(filepath.Join(dir, audit.PublicKeysFile))
	lines := strings.Split(strings.TrimRight(arch.String(), "\n"), "\n")
	for name, want := range map[string]struct {
		lines []string
		kind  string
		seq   uint64
	}{
		"delete": {append(slices.Clone(lines[:4]), lines[5:]...), audit.ProblemMissing, 5},
		"twice":  {append(slices.Clone(lines[:5]), lines[4:]...), audit.ProblemReordered, 5},
	} {
		path := filepath.Join(t.TempDir(), "a.jsonl")
		os.WriteFile(path, []byte(strings.Join(want.lines, "\n")+"\n"), 0o600)
		a, _ := audit.OpenArchive(path)
		rep, err := audit.Verify(context.Background(), a, keys)
		if err != nil || rep.OK || rep.Problems[0].Kind != want.kind || rep.Problems[0].Seq != want.seq {
			t.Errorf("%s: %+v %v", name, rep.Problems, err)
		}
		for _, p := range rep.Problems {
			if strings.Contains(p.Message, "missing") && want.kind != audit.ProblemMissing {
				t.Errorf("%s: reported as a deletion: %s", name, p.Message)
			}
		}
	}
}
