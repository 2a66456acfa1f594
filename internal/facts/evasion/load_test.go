package evasion

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestPackDecisionsUnderLoad decides every input of the four suites with
// the example pack on an idle machine and again while goroutines keep
// every core busy: the decisions must be the same. (A 50 ms clock limit
// once turned SELECT 1 into a parse error, and so into a deny, under load.)
func TestPackDecisionsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("decides every suite input twice")
	}
	dir := pathTree(t)
	ws := filepath.Join(dir, "ws")
	p := newPack(t, ws)
	type call struct {
		tool  string
		input map[string]any
	}
	var calls []call
	for _, c := range readSuite(t, "shell.txt") {
		calls = append(calls, call{"shell/run_command", map[string]any{"command": c.value}})
	}
	for _, c := range readSuite(t, "sql.txt") {
		calls = append(calls, call{"db/query", map[string]any{"sql": c.value}})
	}
	for _, c := range readSuite(t, "url.txt") {
		calls = append(calls, call{"web/fetch", map[string]any{"url": c.value}})
	}
	for _, c := range readSuite(t, "path.txt") {
		s := strings.NewReplacer("WS", ws, "OUT", filepath.Join(dir, "outside")).Replace(c.value)
		calls = append(calls, call{"fs/read_file", map[string]any{"path": s}})
	}
	decide := func() []bool {
		out := make([]bool, len(calls))
		for i, c := range calls {
			out[i], _ = p.allows(c.tool, c.input)
		}
		return out
	}
	idle := decide()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
					x++
				}
			}
		}()
	}
	loaded := decide()
	close(stop)
	wg.Wait()
	for i := range calls {
		if idle[i] != loaded[i] {
			t.Errorf("%s %v: allowed %v idle, %v under load", calls[i].tool, calls[i].input, idle[i], loaded[i])
		}
	}
	t.Logf("%d decisions compared", len(calls))
}
