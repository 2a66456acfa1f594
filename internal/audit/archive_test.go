package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
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
