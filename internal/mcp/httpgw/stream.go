package httpgw

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/toolgate/toolgate/internal/mcp/upstream"
)

// stream is one SSE stream to the client: the answer to one request (a POST
// that turned into a stream) or the session's standalone stream (GET, or
// the legacy transport's). Its events are kept, numbered, so that a client
// that lost the connection can resume with GET and Last-Event-ID (the
// transport's resumability); the standalone stream keeps only the latest.
type stream struct {
	id   string
	keep int // events kept (0: all, for a request's stream)

	mu     sync.Mutex
	first  int // number of the first kept event
	events [][]byte
	w      http.ResponseWriter // attached response, nil if none
	gone   chan struct{}       // closed when w must be let go
	closed bool                // the request was answered: nothing more comes
	done   chan struct{}       // closed when closed
}

func newStream(id string, keep int) *stream {
	return &stream{id: id, keep: keep, first: 1, done: make(chan struct{})}
}

// eventID names event n of the stream.
func (s *stream) eventID(n int) string { return s.id + "_" + strconv.Itoa(n) }

// parseEventID splits an event id into its stream and number.
func parseEventID(id string) (string, int, bool) {
	i := strings.LastIndexByte(id, '_')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id[:i], n, true
}

// send adds an event and writes it to the attached response, if any. A
// write that fails lets the response go; the event stays for resumption.
func (s *stream) send(msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.events = append(s.events, msg)
	n := s.first + len(s.events) - 1
	if s.keep > 0 && len(s.events) > s.keep {
		s.events = s.events[1:]
		s.first++
	}
	s.writeLocked(n, msg)
}

func (s *stream) writeLocked(n int, msg []byte) {
	if s.w == nil {
		return
	}
	if err := upstream.WriteEvent(s.w, s.eventID(n), msg); err != nil {
		s.detachLocked()
		return
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// finish sends the last event (the response) and closes the stream.
func (s *stream) finish(msg []byte) {
	s.send(msg)
	s.close()
}

func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.detachLocked()
	close(s.done)
}

func (s *stream) detachLocked() {
	if s.w != nil {
		s.w = nil
		close(s.gone)
	}
}

// attach makes w the stream's response: events after number after are
// replayed, later ones follow as they come. It returns a channel closed
// when w is let go (stream closed, write failed, or another attach).
func (s *stream) attach(w http.ResponseWriter, after int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detachLocked()
	gone := make(chan struct{})
	s.w, s.gone = w, gone
	for i, ev := range s.events {
		if n := s.first + i; n > after {
			s.writeLocked(n, ev)
		}
	}
	if s.closed {
		s.detachLocked()
	}
	return gone
}

// detach lets w go if it is still the attached response.
func (s *stream) detach(gone <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil && s.gone == gone {
		s.detachLocked()
	}
}

// startSSE writes the headers of an event stream.
func startSSE(w http.ResponseWriter, sessionID string) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	if sessionID != "" {
		h.Set("Mcp-Session-Id", sessionID)
	}
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
