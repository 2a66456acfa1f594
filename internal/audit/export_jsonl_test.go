package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
)

// TestJSONLExport: the rotated files hold every record once, byte for
// byte, in order across rotations, so the chain checks out from them.
func TestJSONLExport(t *testing.T) {
	dir := t.TempDir()
	cfg := audit.Config{Export: audit.ExportConfig{JSONL: &audit.JSONLExportConfig{Path: "export/audit.jsonl", MaxBytes: 4096, Keep: 100, Poll: 5 * time.Millisecond}}}
	tr := openTrail(t, dir, cfg)
	// Four waves of 10 records (~8 KB each), each exported before the
	// next: every wave after the first rotates the file.
	const n = 40
	base := filepath.Join(dir, "export", "audit.jsonl")
	var lines []string
	for i := 0; i < n; i++ {
		c := newFieldCall("fs/read")
		c.ID, c.Time = fmt.Sprintf("d%d", i), time.Now()
		if err := tr.WriteDecision(context.Background(), audit.NewRecord(c, &call.Decision{ID: c.ID, Effect: call.Allow}, nil)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%10 != 0 {
			continue
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if lines = readRotated(t, base); len(lines) >= i+1 {
				break
			}
		}
	}
	tr.Close()
	if len(lines) != n {
		t.Fatalf("%d lines exported, want %d", len(lines), n)
	}
	if files, _ := filepath.Glob(base + ".*"); len(files) < 3 {
		t.Fatalf("no rotation: %v", files)
	}
	prev := audit.GenesisHash
	for i, l := range lines {
		h, err := audit.ParseHeader([]byte(l))
		if err != nil || h.Seq != uint64(i+1) || h.PrevHash != prev {
			t.Fatalf("line %d: %+v %v", i, h, err)
		}
		prev = audit.HashOf([]byte(l)).String()
	}
}

// readRotated reads base.N … base.1, base: oldest first.
func readRotated(t *testing.T, base string) []string {
	files, _ := filepath.Glob(base + ".*")
	sort.Slice(files, func(i, j int) bool {
		var a, b int
		fmt.Sscanf(files[i][len(base)+1:], "%d", &a)
		fmt.Sscanf(files[j][len(base)+1:], "%d", &b)
		return a > b
	})
	files = append(files, base)
	var out []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		fh.Close()
	}
	return out
}
