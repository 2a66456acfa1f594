package credential_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/keys"
)

// BenchmarkMint mints and signs one per-call token for an allowed call: the
// RFC 8785 digest of the arguments, the claims, the JSON and the signature
// with the data directory's active key (Ed25519 by default, ES256 for
// comparison). Besides Go's mean, it reports the p50 and p99 of single
// mints (bench/README.md, "Per-call credential").
func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			kp, err := keys.OpenFile(b.TempDir(), keys.Config{Algorithm: alg}, keys.FileOptions{})
			if err != nil {
				b.Fatal(err)
			}
			m, err := credential.New(githubConfig(), credential.Options{
				Keys: kp, Issuer: "toolgate", URLs: map[string]string{"github": "https://tools.example.com/mcp"},
			})
			if err != nil {
				b.Fatal(err)
			}
			c, d := agentCall("create_issue", `{"title":"Crash when saving","body":"Steps: open, edit, save.","labels":["bug","p1"],"assignee":"alice"}`)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, err := m.Mint(ctx, c, d); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
		})
	}
}
