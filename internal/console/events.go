package console

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// heartbeat keeps an idle stream open through proxies.
const heartbeat = 15 * time.Second

// events is the console's live stream (Server-Sent Events): "approvals"
// when what the person's inbox shows changed (a call waits, someone
// answered), "decisions" when the trail grew (with its last seq), and
// "signout" when the session ended. The page fetches what changed; the
// stream itself carries no data about calls.
func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Flushed once the stream knows what the page shows (below): from then
	// on every change is announced.
	fmt.Fprint(w, "retry: 2000\n\n")

	_, cookie := c.session(r)
	c.o.Log.Debug("console: live stream opened", "person", s.Name(), "remote", r.RemoteAddr)
	defer c.o.Log.Debug("console: live stream closed", "person", s.Name(), "remote", r.RemoteAddr)
	trail := c.o.Trail != nil && c.mayPage(s, ActionReadTrail, resTrail)
	// What the page showed when it was rendered: changes since then are
	// announced at once (a call may start waiting between the page and its
	// stream).
	q := r.URL.Query()
	inboxSig := q.Get("inbox")
	lastSeq, _ := strconv.ParseUint(q.Get("seq"), 10, 64)
	first := true
	poll := time.NewTicker(c.o.Poll)
	defer poll.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		updated := c.o.Approvals.Updates()
		if c.sessions.peek(cookie) == nil {
			fmt.Fprint(w, "event: signout\ndata: ended\n\n")
			fl.Flush()
			return
		}
		if in, err := c.inbox(r, s); err == nil && in.State != inboxSig {
			if !first || inboxSig != "" {
				fmt.Fprintf(w, "event: approvals\ndata: %d\n\n", len(in.Pending))
			}
			inboxSig = in.State
		}
		if trail {
			if seq, err := c.lastSeq(r); err == nil && seq != lastSeq {
				if !first || q.Has("seq") {
					fmt.Fprintf(w, "event: decisions\ndata: %d\n\n", seq)
				}
				lastSeq = seq
			}
		}
		first = false
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-c.stop:
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-updated:
		case <-poll.C:
		}
	}
}

func (c *Console) lastSeq(r *http.Request) (uint64, error) {
	var seq uint64
	err := c.o.Trail.ScanAudit(r.Context(), store.AuditFilter{Last: 1}, func(e *store.AuditEntry) error {
		seq = e.Seq
		return nil
	})
	return seq, err
}
