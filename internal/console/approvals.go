package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/store"
)

// approver is the session's person as the approval service sees them.
func approver(s *session) approval.Approver {
	return approval.Approver{Principal: s.Principal, Channel: approval.ChannelConsole, Operator: s.Operator}
}

type inbox struct {
	Pending  []*approval.View
	Answered []*approval.View
	FourEyes bool
	Similar  bool
	Now      time.Time
	// State sums up what the inbox shows, so that the live stream can tell
	// the page what changed since it was rendered.
	State string
}

// inbox lists what the person may answer: pending first, then the last
// answers (so an answer given by another approver shows).
func (c *Console) inbox(r *http.Request, s *session) (*inbox, error) {
	who := approver(s)
	views, err := c.o.Approvals.List(r.Context(), &who, store.ApprovalFilter{Limit: 200})
	if err != nil {
		return nil, err
	}
	cfg := c.o.Approvals.Config()
	in := &inbox{FourEyes: cfg.FourEyes, Similar: !cfg.NoSimilar, Now: c.o.Now(), State: inboxState(views)}
	for _, v := range views {
		d := v.Display()
		if v.State == store.ApprovalPending {
			in.Pending = append(in.Pending, d)
		} else if len(in.Answered) < 20 {
			in.Answered = append(in.Answered, d)
		}
	}
	return in, nil
}

func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request, s *session) {
	in, err := c.inbox(r, s)
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, err.Error())
		return
	}
	c.render(w, http.StatusOK, "approvals", s, view{Title: "Approvals", Nav: "approvals", Flash: r.URL.Query().Get("done"), Data: in})
}

// approvalsList is the inbox alone, for live updates.
func (c *Console) approvalsList(w http.ResponseWriter, r *http.Request, s *session) {
	in, err := c.inbox(r, s)
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, err.Error())
		return
	}
	c.fragment(w, "approvals", "inbox", s, in)
}

// answer approves or denies one approval: decision=approve|deny, comment,
// similar. The approval service applies every rule (who may answer, four
// eyes, not the caller itself, expiry) as for every channel.
func (c *Console) answer(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var ans approval.Answer
	switch r.PostForm.Get("decision") {
	case "approve":
		ans.Approve = true
	case "deny":
	default:
		c.fail(w, r, s, http.StatusBadRequest, CodeInvalid, "decision must be approve or deny")
		return
	}
	ans.Comment = strings.TrimSpace(r.PostForm.Get("comment"))
	ans.Similar = ans.Approve && r.PostForm.Get("similar") == "on"
	v, err := c.o.Approvals.Decide(r.Context(), id, approver(s), ans)
	if err != nil {
		status := http.StatusBadRequest
		code := codeOf(err)
		switch {
		case code == approval.CodeNotFound:
			status = http.StatusNotFound
		case code == approval.CodeNotPending:
			status = http.StatusConflict
		case code == approval.CodeForbidden || code == approval.CodeSelf || code == approval.CodeFourEyes || code == approval.CodeAgentApprover:
			status = http.StatusForbidden
		case code == approval.CodeStore:
			status = http.StatusServiceUnavailable
		}
		c.fail(w, r, s, status, code, err.Error())
		return
	}
	if r.Header.Get("X-Console") != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(v.State + "\n"))
		return
	}
	http.Redirect(w, r, "/console/approvals?done="+v.State+"+"+v.ID, http.StatusSeeOther)
}

// inboxState is a digest of the approvals listed and their states.
func inboxState(views []*approval.View) string {
	parts := make([]string, 0, len(views))
	for _, v := range views {
		parts = append(parts, v.ID+"="+v.State)
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:12])
}

func codeOf(err error) string {
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return CodeInvalid
}
