package console

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
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
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()

	_, cookie := c.session(r)
	trail := c.o.Trail != nil && c.mayPage(s, ActionReadTrail, resTrail)
	var inboxSig string
	var lastSeq uint64
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
		if sig, n, err := c.inboxSignature(r, s); err == nil && sig != inboxSig {
			if !first {
				fmt.Fprintf(w, "event: approvals\ndata: %d\n\n", n)
			}
			inboxSig = sig
		}
		if trail {
			if seq, err := c.lastSeq(r); err == nil && seq != lastSeq {
				if !first {
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

// inboxSignature sums up what the inbox shows: the approvals the person
// may answer and their states.
func (c *Console) inboxSignature(r *http.Request, s *session) (string, int, error) {
	who := approver(s)
	views, err := c.o.Approvals.List(r.Context(), &who, store.ApprovalFilter{Limit: 200})
	if err != nil {
		return "", 0, err
	}
	parts := make([]string, 0, len(views))
	pending := 0
	for _, v := range views {
		parts = append(parts, v.ID+"="+v.State)
		if v.State == store.ApprovalPending {
			pending++
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), pending, nil
}

func (c *Console) lastSeq(r *http.Request) (uint64, error) {
	var seq uint64
	err := c.o.Trail.ScanAudit(r.Context(), store.AuditFilter{Last: 1}, func(e *store.AuditEntry) error {
		seq = e.Seq
		return nil
	})
	return seq, err
}
