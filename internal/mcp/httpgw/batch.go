package httpgw

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/server/auth"
)

// batchParallel bounds the requests of one batch handled at once: a batch
// is bounded only by the message size limit.
const batchParallel = 16

// batch handles a POST whose body is a JSON-RPC batch, in a session that
// negotiated a protocol version with batches. Each message is handled as
// if it came alone (a tools/call in it is judged like any other), the
// requests side by side; the answers go back as one JSON array, or as an
// event stream when a server sends a message about one of the requests
// before all are answered.
func (g *Gateway) batch(w http.ResponseWriter, r *http.Request, s *session, frame *jsonrpc.Frame) {
	if !g.batchAllowed(w, s) {
		return
	}
	out := &batchOut{w: w, s: s}
	g.runBatch(auth.From(r.Context()), r.Header.Get("X-Toolgate-Task"), s, frame, out)
	out.end()
}

// batchAllowed answers 400 (-32600) unless the session's protocol version
// has batches.
func (g *Gateway) batchAllowed(w http.ResponseWriter, s *session) bool {
	s.mu.Lock()
	v := s.version
	s.mu.Unlock()
	if jsonrpc.BatchesAllowed(v) {
		return true
	}
	g.metric("invalid_message")
	writeJSON(w, http.StatusBadRequest, jsonrpc.ErrorResponse(nil, jsonrpc.CodeInvalidRequest,
		"JSON-RPC batches are not part of MCP protocol version "+v+" (the session's); send one message per request", nil))
	return false
}

// runBatch handles every message of a batch and returns once each request
// is answered (into out).
func (g *Gateway) runBatch(who *auth.Caller, task string, s *session, frame *jsonrpc.Frame, out *batchOut) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, batchParallel)
	for _, it := range frame.Items {
		switch {
		case it.Err != nil:
			g.metric("invalid_message")
			out.answer(it.Err.Response())
		case it.Msg.Kind == jsonrpc.KindRequest && it.Msg.Method == "initialize":
			out.answer(jsonrpc.ErrorResponse(it.Msg.ID, jsonrpc.CodeInvalidRequest, "initialize must not be part of a JSON-RPC batch", nil))
		case it.Msg.Kind == jsonrpc.KindRequest:
			wg.Add(1)
			slots <- struct{}{}
			go func(m *jsonrpc.Message) {
				defer wg.Done()
				defer func() { <-slots }()
				s.request(who, task, m, &responder{w: out.w, s: s, sessionID: s.id, batch: out})
			}(it.Msg)
		default:
			if err := s.fromClient(g.ctx, who, task, it.Msg); err != nil {
				g.metric("upstream")
				s.g.o.Log.Warn("cannot pass a message of a batch on to the MCP servers", "session", s.id, "error", err)
			}
		}
	}
	wg.Wait()
}

// batchOut collects the answers to the requests of one batch. In a
// legacy HTTP+SSE session (w nil) everything goes on the session's stream,
// the answers as one array at the end.
type batchOut struct {
	w http.ResponseWriter
	s *session

	mu      sync.Mutex
	answers []json.RawMessage
	st      *stream // the event stream, once a related message came
}

// related sends a message that belongs to one of the batch's requests: the
// response becomes an event stream, with the answers so far first.
func (b *batchOut) related(msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.s.legacy != nil {
		b.s.legacy.send(msg)
		return
	}
	if b.st == nil {
		b.st = b.s.newStream()
		startSSE(b.w, b.s.id)
		b.st.attach(b.w, 0)
		for _, a := range b.answers {
			b.st.send(a)
		}
	}
	b.st.send(msg)
}

func (b *batchOut) answer(msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answers = append(b.answers, msg)
	if b.st != nil {
		b.st.send(msg)
	}
}

// end is called once every request of the batch is answered.
func (b *batchOut) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st != nil {
		b.st.close()
		return
	}
	if b.s.legacy != nil {
		if len(b.answers) > 0 {
			if arr, err := jsonrpc.Marshal(b.answers); err == nil {
				b.s.legacy.send(arr)
			}
		}
		return
	}
	h := b.w.Header()
	h.Set("Mcp-Session-Id", b.s.id)
	if len(b.answers) == 0 { // only notifications and responses
		b.w.WriteHeader(http.StatusAccepted)
		return
	}
	arr, err := jsonrpc.Marshal(b.answers)
	if err != nil { // cannot happen: every answer is valid JSON
		httpError(b.w, http.StatusInternalServerError, "cannot encode the batch's answers: "+err.Error())
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(arr)))
	writeJSON(b.w, http.StatusOK, arr)
}
