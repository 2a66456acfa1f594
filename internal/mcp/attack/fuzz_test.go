package attack

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/mcp/stdio"
	"github.com/toolgate/toolgate/internal/policy"
)

// FuzzRelay sends what the fuzzer makes, after an initialize, through the
// stdio relay to the lax server and checks the suite's property: nothing
// the server carried out was not judged allowed as carried out and
// recorded. Seeds: the attacks, and testdata/fuzz/FuzzRelay.
func FuzzRelay(f *testing.F) {
	for _, a := range attacks() {
		if !a.httpOnly {
			f.Add([]byte(joinLines(a.msgs)))
		}
	}
	rules, err := os.ReadFile(filepath.Join("testdata", "policies", "attack.cedar"))
	if err != nil {
		f.Fatal(err)
	}
	set, err := policy.NewSet(policy.OrgLayer, []policy.Source{{Name: "attack.cedar", Text: rules}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		dir := t.TempDir()
		sink := &audittest.Sink{}
		pins, err := pin.Open(dir, "lax")
		if err != nil {
			t.Fatal(err)
		}
		tools := gate.NewTools("lax", pins, "", nil)
		pipe, err := enforce.New(enforce.Config{Policies: policy.NewStaticEngine(set), Catalog: tools.Catalog(nil), Audit: sink})
		if err != nil {
			t.Fatal(err)
		}
		g, err := gate.New(gate.Options{Tools: tools, Pipeline: pipe, Principal: call.Principal{Kind: call.KindAgent, ID: "fuzz"}})
		if err != nil {
			t.Fatal(err)
		}
		execPath := filepath.Join(dir, "exec")
		in := bytes.NewBufferString(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}` + "\n")
		in.Write(input)
		in.WriteString("\n")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = stdio.Run(ctx, stdio.Options{
			Command: []string{os.Args[0]},
			Env:     append(os.Environ(), "ATTACK_SERVER=lax", "ATTACK_EXEC="+execPath),
			Gate:    g,
			Config:  mcp.Config{ShutdownTimeout: 2 * time.Second},
			Stderr:  io.Discard,
		}, in, io.Discard)
		if err != nil {
			t.Logf("relay: %v", err) // the lax server may exit (crash tool); the property still holds
		}
		var ds []decision
		for _, r := range sink.Decisions {
			ds = append(ds, decision{Type: "decision", DecisionID: r.DecisionID, Tool: r.Tool, Effect: string(r.Effect), Arguments: r.Arguments})
		}
		checkJudged(t, "fuzz", readExecuted(t, execPath), ds)
		for _, e := range readExecuted(t, execPath) {
			if e.Kind == "call" && e.Name != "read_file" && e.Name != "slow" && e.Name != "release" && e.Name != "crash" {
				t.Errorf("the server carried out %s", e.Name)
			}
		}
	})
}

func joinLines(msgs []string) string {
	var b bytes.Buffer
	for _, m := range msgs {
		b.WriteString(m)
		b.WriteString("\n")
	}
	return b.String()
}
