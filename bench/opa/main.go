// Command opa measures toolgate beside Open Policy Agent on the same grants,
// each side in the same run (bench/README.md):
//
//	go run . -mode engine  [-n 10,1000,10000] [-iters 100000]
//	go run . -mode authzen [-opa BIN] [-toolgate BIN] [-policies 1000] [-c 16] [-phase 5s] [-rounds 3]
//
// engine: toolgate's decision engine (building the Cedar request from the
// call and deciding it, as BenchmarkDecide does) vs OPA's Go SDK (a prepared
// query on the same grants written in Rego, the input decoded from the same
// JSON arguments), n grants of which one applies, p50 and p99 of single
// decisions. authzen: `toolgate serve`'s AuthZEN endpoint (every stage, the
// durable audit trail in a data directory on disk) vs `opa run --server`
// (no decision log) on the same grants, the same load (c keep-alive
// connections), alternating phases; decisions/s and each server's CPU per
// decision.
//
// It is a module of its own so that OPA's dependencies stay out of
// toolgate's go.mod.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	mode := flag.String("mode", "engine", "engine or authzen")
	ns := flag.String("n", "10,1000,10000", "engine: numbers of grants")
	iters := flag.Int("iters", 100000, "engine: decisions per side and size")
	opaBin := flag.String("opa", "", "authzen: the opa binary (default: go build github.com/open-policy-agent/opa)")
	tgBin := flag.String("toolgate", "", "authzen: the toolgate binary (default: go build ../../cmd/toolgate)")
	policies := flag.Int("policies", 1000, "authzen: number of grants")
	conns := flag.Int("c", 16, "authzen: keep-alive connections")
	phase := flag.Duration("phase", 0, "authzen: length of one phase (default 5s)")
	rounds := flag.Int("rounds", 3, "authzen: phases per side")
	profile := flag.String("profile", "", "authzen: save a CPU profile of toolgate during its first phase to this file")
	dataDir := flag.String("data-dir", "", "authzen: toolgate's data directory (default: a new directory under the current one, i.e. on its disk)")
	flag.Parse()
	var err error
	switch *mode {
	case "engine":
		var sizes []int
		for _, s := range strings.Split(*ns, ",") {
			n, perr := strconv.Atoi(strings.TrimSpace(s))
			if perr != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bench/opa: bad -n %q\n", s)
				os.Exit(2)
			}
			sizes = append(sizes, n)
		}
		err = engine(sizes, *iters)
	case "authzen":
		err = authzenBench(*opaBin, *tgBin, *policies, *conns, *phase, *rounds, *dataDir, *profile)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/opa:", err)
		os.Exit(1)
	}
}

// grants are the benchmark's policies: n grants of which exactly one
// applies to the benchmark call, the others naming other tools and groups,
// as in internal/policy's BenchmarkDecide.
func cedarGrants(n int) string {
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
	return sb.String()
}

// regoGrants are the same grants in Rego: one rule per grant, each starting
// with an equality on the action, which OPA's rule index uses (as
// toolgate's index uses the action's scope), so neither side evaluates
// grants that cannot apply.
func regoGrants(n int) string {
	var sb strings.Builder
	sb.WriteString(`package toolgate

default allow := false

allow if {
	input.action == "fs/read_file"
	input.resource == "fs"
	"devops" in input.groups
	startswith(input.input.path, "/workspace/")
	input.input.size < 1000000
}
`)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, `
allow if {
	input.action == "srv%d/tool%d"
	"team%d" in input.groups
	startswith(input.input.path, "/data/%d/")
}
`, i%113, i, i%97, i)
	}
	return sb.String()
}

const benchArgs = `{"path": "/workspace/src/main.go", "size": 2048}`
