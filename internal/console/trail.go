package console

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/store"
)

// row is one decision as the lists show it, read from the record as
// stored (arguments and reasons redacted by the trail).
type row struct {
	Seq        uint64
	DecisionID string
	Time       time.Time
	Principal  string
	OnBehalfOf string
	TaskID     string
	Tool       string
	Effect     string
	Stage      string
	Reason     string
	Approval   string
	Outcome    string
}

// decisionFields are the decision record's fields a row shows.
type decisionFields struct {
	Principal struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"principal"`
	Stage   string `json:"stage"`
	Reasons []struct {
		Message string `json:"message"`
	} `json:"reasons"`
	Approval *struct {
		Approver string `json:"approver"`
		Answer   string `json:"answer"`
	} `json:"approval"`
}

func rowOf(e *store.AuditEntry) row {
	r := row{Seq: e.Seq, DecisionID: e.DecisionID, Time: e.Time, Principal: e.Principal, OnBehalfOf: e.OnBehalfOf,
		TaskID: e.TaskID, Tool: e.Server + "/" + e.Tool, Effect: e.Effect}
	var f decisionFields
	if json.Unmarshal(e.Body, &f) == nil {
		if f.Principal.Kind == "user" {
			r.Principal = `User::"` + f.Principal.ID + `"`
		} else {
			r.Principal = `Agent::"` + f.Principal.ID + `"`
		}
		r.Stage = f.Stage
		if len(f.Reasons) > 0 {
			r.Reason = f.Reasons[0].Message
		}
		if f.Approval != nil {
			r.Approval = f.Approval.Answer + " by " + f.Approval.Approver
		}
	}
	return r
}

// query is a search of the trail from the page's query string.
type query struct {
	Agent, User, Tool, Effect, Task, Since, Until string
	Filter                                        store.AuditFilter
	Problem                                       string
}

func (q query) Encode() string {
	v := url.Values{}
	for k, s := range map[string]string{"agent": q.Agent, "user": q.User, "tool": q.Tool, "effect": q.Effect, "task": q.Task, "since": q.Since, "until": q.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// parseQuery reads the filters; a bad one is named in Problem and matches
// nothing.
func parseQuery(v url.Values, now time.Time) query {
	q := query{Agent: strings.TrimSpace(v.Get("agent")), User: strings.TrimSpace(v.Get("user")), Tool: strings.TrimSpace(v.Get("tool")),
		Effect: v.Get("effect"), Task: strings.TrimSpace(v.Get("task")), Since: strings.TrimSpace(v.Get("since")), Until: strings.TrimSpace(v.Get("until"))}
	f := store.AuditFilter{Principal: q.Agent, OnBehalfOf: q.User, TaskID: q.Task, Tool: q.Tool}
	if s, t, ok := strings.Cut(q.Tool, "/"); ok {
		f.Server, f.Tool = s, t
	}
	switch q.Effect {
	case "", "allow", "deny", "ask":
		f.Effect = q.Effect
	default:
		q.Problem = fmt.Sprintf("effect %q is not allow, deny or ask", q.Effect)
	}
	var err error
	if f.Since, err = parseWhen(q.Since, now); err != nil {
		q.Problem = "since: " + err.Error()
	}
	if f.Until, err = parseWhen(q.Until, now); err != nil {
		q.Problem = "until: " + err.Error()
	}
	q.Filter = f
	return q
}

// parseWhen reads an RFC 3339 time, a browser's datetime-local (UTC), or a
// duration before now ("1h").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("a duration ago must be positive")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 2006-01-02T15:04, or a duration ago such as 1h)", s)
}

// maxRows bounds a list.
const maxRows = 100

// scanWindow bounds how many records one list reads: a filter no index
// serves (a tool, an effect) walks the records newest first, and a page
// must render in well under 100 ms however long the trail is. Older
// records are reached with "until" (the page links to the next window).
const scanWindow = 20000

// window is the part of the trail a list searched.
type window struct {
	// From is the oldest record searched (0: the search reached the
	// start of the trail); Older is the search before it (a URL).
	From  uint64
	Older string
}

// bound limits f to the newest scanWindow records up to f.Until.
func (c *Console) bound(ctx context.Context, f *store.AuditFilter) (uint64, error) {
	var upper uint64
	err := c.o.Trail.ScanAudit(ctx, store.AuditFilter{Until: f.Until, Last: 1}, func(e *store.AuditEntry) error {
		upper = e.Seq
		return nil
	})
	if err != nil || upper <= scanWindow {
		return 0, err
	}
	from := upper - scanWindow + 1
	if f.AfterSeq < from-1 {
		f.AfterSeq = from - 1
	}
	return f.AfterSeq + 1, nil
}

// decisions returns the newest decisions matching q (newest first) with
// their outcomes, and the window searched.
func (c *Console) decisions(ctx context.Context, q query) ([]row, window, error) {
	var win window
	if q.Problem != "" {
		return nil, win, nil
	}
	f := q.Filter
	from, err := c.bound(ctx, &f)
	if err != nil {
		return nil, win, err
	}
	filtered := f.Principal != "" || f.OnBehalfOf != "" || f.TaskID != "" || f.Server != "" || f.Tool != "" || f.Effect != ""
	var rows []row
	outcomes := map[string]string{}
	var last uint64
	keep := func(e *store.AuditEntry) error {
		last = max(last, e.Seq)
		if e.Kind == "outcome" {
			outcomes[e.DecisionID] = e.Status
			return nil
		}
		rows = append(rows, rowOf(e))
		return nil
	}
	if filtered {
		// Decisions only: asking for their outcomes in the same query
		// (WithOutcomes) keeps the database from using its indexes.
		f.Last = maxRows
		if err := c.o.Trail.ScanAudit(ctx, f, keep); err != nil {
			return nil, win, err
		}
	} else {
		// The tail of the trail holds the newest decisions and their
		// outcomes.
		f.WithOutcomes = true
		f.Last = 2 * maxRows
		if err := c.o.Trail.ScanAudit(ctx, f, keep); err != nil {
			return nil, win, err
		}
	}
	// Newest first, at most maxRows.
	out := make([]row, 0, min(len(rows), maxRows))
	for i := len(rows) - 1; i >= 0 && len(out) < maxRows; i-- {
		out = append(out, rows[i])
	}
	for i := range out {
		st, ok := outcomes[out[i].DecisionID]
		if !ok && filtered {
			// One indexed lookup per row shown.
			err := c.o.Trail.ScanAudit(ctx, store.AuditFilter{DecisionID: out[i].DecisionID, Limit: 4}, func(e *store.AuditEntry) error {
				if e.Kind == "outcome" {
					st = e.Status
				}
				return nil
			})
			if err != nil {
				return nil, win, err
			}
		}
		out[i].Outcome = st
	}
	_ = last
	if from > 0 && len(out) < maxRows {
		// The window ran out before the page filled: offer the records
		// before it.
		win.From = from
		err := c.o.Trail.ScanAudit(ctx, store.AuditFilter{AfterSeq: from - 1, Limit: 1}, func(e *store.AuditEntry) error {
			older := q
			older.Until = e.Time.UTC().Format(time.RFC3339Nano)
			win.Older = "/console/audit?" + older.Encode()
			return nil
		})
		if err != nil {
			return nil, win, err
		}
	}
	return out, win, nil
}

type decisionsData struct {
	Query  query
	Rows   []row
	Window window
	// Seq is the trail's last record when the page was rendered.
	Seq uint64
}

func (c *Console) trailAllowed(w http.ResponseWriter, r *http.Request, s *session) bool {
	if c.o.Trail == nil {
		c.fail(w, r, s, http.StatusNotFound, CodeNotFound, "the audit trail is not kept in toolgate's store here (audit.sink), so the console cannot show it")
		return false
	}
	if !c.mayPage(s, ActionReadTrail, resTrail) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not read the audit trail (Action::\"ReadTrail\")")
		return false
	}
	return true
}

func (c *Console) decisionsPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.trailAllowed(w, r, s) {
		return
	}
	q := parseQuery(r.URL.Query(), c.o.Now())
	seq, err := c.lastSeq(r) // first: rows newer than seq only cause a refresh
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, "the audit trail cannot be read: "+err.Error())
		return
	}
	rows, win, err := c.decisions(r.Context(), q)
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, "the audit trail cannot be read: "+err.Error())
		return
	}
	c.render(w, http.StatusOK, "decisions", s, view{Title: "Decisions", Nav: "decisions", Error: q.Problem, Data: decisionsData{Query: q, Rows: rows, Seq: seq, Window: win}})
}

func (c *Console) decisionRows(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.trailAllowed(w, r, s) {
		return
	}
	q := parseQuery(r.URL.Query(), c.o.Now())
	rows, win, err := c.decisions(r.Context(), q)
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, "the audit trail cannot be read: "+err.Error())
		return
	}
	c.fragment(w, "decisions", "rows", s, decisionsData{Query: q, Rows: rows, Window: win})
}

type recordData struct {
	Row      row
	Decision string // the record as stored, indented
	Outcome  string
	Fields   map[string]json.RawMessage
	Seqs     []uint64
}

// decisionPage shows one decision's full record and its outcome, as
// stored.
func (c *Console) decisionPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.trailAllowed(w, r, s) {
		return
	}
	id := r.PathValue("id")
	var d recordData
	found := false
	err := c.o.Trail.ScanAudit(r.Context(), store.AuditFilter{DecisionID: id, Limit: 16}, func(e *store.AuditEntry) error {
		d.Seqs = append(d.Seqs, e.Seq)
		switch e.Kind {
		case "decision":
			found = true
			d.Row = rowOf(e)
			d.Decision = prettyJSON(e.Body)
			_ = json.Unmarshal(e.Body, &d.Fields)
		case "outcome":
			d.Outcome = prettyJSON(e.Body)
			d.Row.Outcome = e.Status
		}
		return nil
	})
	if err != nil {
		c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, "the audit trail cannot be read: "+err.Error())
		return
	}
	if !found {
		c.fail(w, r, s, http.StatusNotFound, CodeNotFound, "there is no decision "+id+" in the trail")
		return
	}
	c.render(w, http.StatusOK, "decision", s, view{Title: "Decision " + id, Nav: "decisions", Data: d})
}

// verifyResult is the last verification of the trail.
type verifyResult struct {
	At     time.Time
	Report *audit.Report
	Err    string
	By     string
}

type checkpointInfo struct {
	Seq  uint64
	Time time.Time
}

type auditData struct {
	Query      query
	Rows       []row
	Window     window
	Verified   *verifyResult
	Checkpoint *checkpointInfo
	Export     string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.trailAllowed(w, r, s) {
		return
	}
	q := parseQuery(r.URL.Query(), c.o.Now())
	d := auditData{Query: q, Export: "/console/audit/export?" + q.Encode()}
	if len(r.URL.Query()) > 0 && q.Problem == "" {
		rows, win, err := c.decisions(r.Context(), q)
		if err != nil {
			c.fail(w, r, s, http.StatusServiceUnavailable, CodeStore, "the audit trail cannot be read: "+err.Error())
			return
		}
		d.Rows, d.Window = rows, win
	}
	// The last signed checkpoint: the newest statement the trail's key
	// made about it.
	var cp *checkpointInfo
	if err := c.o.Trail.AuditCheckpoints(r.Context(), func(k *store.AuditCheckpoint) error {
		cp = &checkpointInfo{Seq: k.Seq, Time: k.Time}
		return nil
	}); err == nil {
		d.Checkpoint = cp
	}
	c.verifyMu.Lock()
	d.Verified = c.verified
	c.verifyMu.Unlock()
	c.render(w, http.StatusOK, "audit", s, view{Title: "Audit trail", Nav: "audit", Error: q.Problem, Flash: r.URL.Query().Get("done"), Data: d})
}

// auditVerify checks the whole chain and every checkpoint now.
func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.trailAllowed(w, r, s) {
		return
	}
	res := &verifyResult{At: c.o.Now(), By: s.Name()}
	pub, err := c.trailKeys(r.Context())
	if err == nil {
		res.Report, err = audit.Verify(r.Context(), c.o.Trail, pub)
	}
	if err != nil {
		res.Err = err.Error()
	} else if len(pub) == 0 && (res.Report.Records > 0 || res.Report.Checkpoints > 0) {
		res.Err = "there is no public key to check the trail's checkpoints with"
	}
	c.verifyMu.Lock()
	c.verified = res
	c.verifyMu.Unlock()
	c.o.Log.Info("console: the audit trail was verified", "by", s.Name(), "ok", res.Err == "" && res.Report != nil && res.Report.OK)
	http.Redirect(w, r, "/console/audit", http.StatusSeeOther)
}

func (c *Console) trailKeys(ctx context.Context) ([]ed25519.PublicKey, error) {
	if c.o.TrailKeys == nil {
		return nil, nil
	}
	return c.o.TrailKeys(ctx)
}

// auditExport writes the matching records, byte for byte as stored, one
// per line (what `toolgate audit query --json` prints).
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.trailAllowed(w, r, s) {
		return
	}
	q := parseQuery(r.URL.Query(), c.o.Now())
	if q.Problem != "" {
		c.fail(w, r, s, http.StatusBadRequest, CodeInvalid, q.Problem)
		return
	}
	f := q.Filter
	f.WithOutcomes = true
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="toolgate-audit-%s.jsonl"`, c.o.Now().UTC().Format("20060102T150405Z")))
	c.o.Log.Info("console: audit records exported", "by", s.Name(), "filter", q.Encode())
	err := c.o.Trail.ScanAudit(r.Context(), f, func(e *store.AuditEntry) error {
		if _, err := w.Write(e.Body); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
	if err != nil {
		c.o.Log.Warn("console: an export ended early", "error", err)
	}
}
