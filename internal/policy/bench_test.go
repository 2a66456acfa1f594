package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go"

	"github.com/toolgate/toolgate/internal/call"
)

// benchSet builds n policies of which exactly one applies to the benchmark
// call; the others name other actions and groups, as a large organisation's
// policy set would.
func benchSet(b *testing.B, n int) *Set {
	var sb strings.Builder
	sb.WriteString(`@id("relevant")
permit(principal in Group::"devops", action == Action::"fs/read_file", resource == Server::"fs")
when { context.input.path like "/workspace/*" && context.input.size < 1000000 };
`)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, `@id("p%d")
permit(principal in Group::"team%d", action == Action::"srv%d/tool%d", resource)
when { context.input has path && context.input.path like "/data/%d/*" };
`, i, i%97, i%113, i, i)
	}
	return mustSet(b, "org", sb.String())
}

// BenchmarkDecide measures one decision against n policies with one
// relevant: building the Cedar request from the call and deciding it. It
// reports p50 and p99 per decision besides the mean.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			set := benchSet(b, n)
			c := agentCall("ci-bot", []string{"devops", "readers"}, "fs", "read_file", `{"path": "/workspace/src/main.go", "size": 2048}`)
			c.Time = time.Now()
			if res := Decide(mustRequest(b, c), set); res.Effect != call.Allow {
				b.Fatalf("benchmark call not allowed: %+v", res)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				c.Time = start // each call is judged at its own time
				r, err := NewRequest(c, nil, benchLimits)
				if err != nil {
					b.Fatal(err)
				}
				if res := Decide(r, set); res.Effect != call.Allow {
					b.Fatal("denied")
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

var benchLimits = defaultLimits()

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkDecideUnindexed is the baseline: cedar-go's Authorize over every
// policy of the set, as without toolgate's index, on the same request.
func BenchmarkDecideUnindexed(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			set := benchSet(b, n)
			all := cedar.PolicyMap{}
			for _, p := range set.policies {
				all[cedar.PolicyID(p.ID)] = p.cedar
			}
			c := agentCall("ci-bot", []string{"devops", "readers"}, "fs", "read_file", `{"path": "/workspace/src/main.go", "size": 2048}`)
			c.Time = time.Now()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				c.Time = start // each call is judged at its own time
				r, err := NewRequest(c, nil, benchLimits)
				if err != nil {
					b.Fatal(err)
				}
				if d, _ := cedar.Authorize(all, r.entities, r.cedar()); d != cedar.Allow {
					b.Fatal("denied")
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}
