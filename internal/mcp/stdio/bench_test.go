package stdio

import (
	"testing"
)

// BenchmarkRelayToolsCall: one allowed tools/call through the relay and
// pipeline (in-memory audit) to the fake server and back. bench/run
// measures the whole binary against a direct session.
func BenchmarkRelayToolsCall(b *testing.B) {
	h := startRelay(b, setup{})
	h.initialize()
	h.request("1", "tools/list", "")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
		h.recv()
	}
	b.StopTimer()
	h.close()
}
