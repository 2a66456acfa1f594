package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/cedarjson"
	"github.com/toolgate/toolgate/internal/policy"
)

func engine(sizes []int, iters int) error {
	fmt.Printf("decision engine: toolgate (Cedar, indexed) vs OPA Go SDK (prepared query), %d decisions per side, alternating in blocks of %d, %s, %d CPUs, load average %s\n\n",
		iters, block, runtime.Version(), runtime.NumCPU(), loadAverage())
	fmt.Printf("%8s %14s %14s %14s %14s %10s\n", "grants", "toolgate p50", "toolgate p99", "OPA p50", "OPA p99", "OPA/tg p50")
	var tg0 time.Duration
	for _, n := range sizes {
		tgDecide, err := toolgateEngine(n)
		if err != nil {
			return err
		}
		opaDecide, err := opaEngine(n)
		if err != nil {
			return err
		}
		tg := make([]time.Duration, 0, iters)
		op := make([]time.Duration, 0, iters)
		for warm := 0; warm < block; warm++ {
			if _, err := tgDecide(); err != nil {
				return err
			}
			if _, err := opaDecide(); err != nil {
				return err
			}
		}
		for len(tg) < iters {
			for _, side := range []struct {
				decide func() (time.Duration, error)
				out    *[]time.Duration
			}{{tgDecide, &tg}, {opaDecide, &op}} {
				for i := 0; i < block && len(*side.out) < iters; i++ {
					d, err := side.decide()
					if err != nil {
						return err
					}
					*side.out = append(*side.out, d)
				}
			}
		}
		if n == sizes[0] {
			tg0 = pct(tg, .5)
		}
		fmt.Printf("%8d %12.2fµs %12.2fµs %12.2fµs %12.2fµs %9.1f×   (toolgate p50 / p50 at %d grants: %.2f)\n",
			n, us(pct(tg, .5)), us(pct(tg, .99)), us(pct(op, .5)), us(pct(op, .99)), float64(pct(op, .5))/float64(pct(tg, .5)),
			sizes[0], float64(pct(tg, .5))/float64(tg0))
	}
	fmt.Println("\ntargets: OPA p50 / toolgate p50 ≥ 5; toolgate p50 at 10,000 grants ≤ 1.25× its p50 at 10")
	return nil
}

const block = 1000

// toolgateEngine returns one timed decision of toolgate's engine.
func toolgateEngine(n int) (func() (time.Duration, error), error) {
	set, err := policy.NewSet(policy.OrgLayer, []policy.Source{{Name: "grants.cedar", Text: []byte(cedarGrants(n))}})
	if err != nil {
		return nil, err
	}
	c := &call.Call{
		Principal: call.Principal{Kind: call.KindAgent, ID: "ci-bot", Groups: []string{"devops", "readers"}},
		Server:    call.Server{Name: "fs"},
		Tool:      call.Tool{Name: "read_file"},
		Input:     json.RawMessage(benchArgs),
	}
	lim := cedarjson.DefaultLimits()
	return func() (time.Duration, error) {
		start := time.Now()
		c.Time = start // each call is judged at its own time
		r, err := policy.NewRequest(c, nil, lim)
		if err != nil {
			return 0, err
		}
		if res := policy.Decide(r, set); res.Effect != call.Allow {
			return 0, fmt.Errorf("toolgate denied the benchmark call: %+v", res)
		}
		return time.Since(start), nil
	}, nil
}

// opaEngine returns one timed decision of OPA's prepared query, its input
// built from the same JSON arguments.
func opaEngine(n int) (func() (time.Duration, error), error) {
	ctx := context.Background()
	pq, err := rego.New(rego.Query("data.toolgate.allow"), rego.Module("grants.rego", regoGrants(n))).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	raw := []byte(benchArgs)
	return func() (time.Duration, error) {
		start := time.Now()
		var args any
		if err := json.Unmarshal(raw, &args); err != nil {
			return 0, err
		}
		input := map[string]any{
			"principal": "ci-bot", "groups": []any{"devops", "readers"},
			"action": "fs/read_file", "resource": "fs", "input": args,
			"now": start.UnixNano(),
		}
		rs, err := pq.Eval(ctx, rego.EvalInput(input))
		if err != nil {
			return 0, err
		}
		if !rs.Allowed() {
			return 0, fmt.Errorf("OPA denied the benchmark call: %+v", rs)
		}
		return time.Since(start), nil
	}, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
