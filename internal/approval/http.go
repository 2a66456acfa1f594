package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/toolgate/toolgate/internal/frontdoor"
	"github.com/toolgate/toolgate/internal/httpapi"
	"github.com/toolgate/toolgate/internal/store"
)

// maxBodyBytes bounds a request to the approval API.
const maxBodyBytes = 64 << 10

// Routes returns the approval API: pattern → handler, for server.Handle.
//
//	GET  /v1/approvals                  the approvals the caller may answer (?state=pending|all)
//	GET  /v1/approvals/{id}             one of them
//	POST /v1/approvals/{id}/approve     {"comment": "…", "similar": false}
//	POST /v1/approvals/{id}/deny        {"comment": "…"}
//	GET  /v1/approval-links/{token}     a link's page: the call and a form
//	POST /v1/approval-links/{token}     answer through a link: decision=approve|deny, comment
//
// The /v1/approvals routes need Authorization: Bearer with an identity
// token or API key of a person; links carry their own authority.
func (s *Service) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/approvals":               http.HandlerFunc(s.handleList),
		"GET /v1/approvals/{id}":          http.HandlerFunc(s.handleGet),
		"POST /v1/approvals/{id}/approve": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handleAnswer(w, r, true) }),
		"POST /v1/approvals/{id}/deny":    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handleAnswer(w, r, false) }),
		"GET " + LinkPath + "{token}":     http.HandlerFunc(s.handleLinkPage),
		// The link's page posts a form; scripts may post JSON.
		"POST " + LinkPath + "{token}": frontdoor.Accept(http.HandlerFunc(s.handleLinkAnswer), frontdoor.Form, frontdoor.JSON),
	}
}

// authenticate verifies the caller's bearer credential.
func (s *Service) authenticate(ctx context.Context, r *http.Request) (Approver, error) {
	tok, ok := httpapi.Bearer(r)
	if !ok {
		return Approver{}, errorf("identity.missing", "the request needs Authorization: Bearer with an identity token or API key")
	}
	if s.o.Identity == nil || !s.o.Identity.Enabled() {
		return Approver{}, errorf("identity.missing", "no identity provider or API key is configured, so nobody can answer approvals over HTTP (use `toolgate approval` on this machine)")
	}
	id, err := s.o.Identity.Verify(ctx, tok)
	if err != nil {
		return Approver{}, err
	}
	return Approver{Principal: id.Principal, Channel: ChannelAPI}, nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	who, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	f := store.ApprovalFilter{State: store.ApprovalPending, Limit: 500}
	switch st := r.URL.Query().Get("state"); st {
	case "", store.ApprovalPending:
	case "all":
		f.State = ""
	case store.ApprovalApproved, store.ApprovalDenied, store.ApprovalExpired, store.ApprovalCancelled:
		f.State = st
	default:
		writeErr(w, errorf(CodeInvalid, "state %q is not pending, approved, denied, expired, cancelled or all", st))
		return
	}
	views, err := s.List(r.Context(), &who, f)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": views})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	who, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	id := r.PathValue("id")
	v, a, err := s.Get(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	rec, err := decodeRecord(a)
	if err != nil {
		writeErr(w, err)
		return
	}
	now := s.now()
	if s.authorize(a, rec, who, Answer{Approve: true}, now) != nil && s.authorize(a, rec, who, Answer{}, now) != nil {
		// Not 403: what others' agents wait for is not the caller's business.
		writeErr(w, errorf(CodeNotFound, "there is no approval %s", id))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// answerRequest is the body of POST /v1/approvals/{id}/approve|deny.
type answerRequest struct {
	Comment string `json:"comment"`
	Similar bool   `json:"similar"`
}

func (s *Service) handleAnswer(w http.ResponseWriter, r *http.Request, approve bool) {
	who, err := s.authenticate(r.Context(), r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req answerRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeErr(w, errorf(CodeInvalid, "the request body cannot be read: %v", err))
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, errorf(CodeInvalid, "the request is not valid JSON for this endpoint: %v", err))
			return
		}
	}
	v, err := s.Decide(r.Context(), r.PathValue("id"), who, Answer{Approve: approve, Comment: req.Comment, Similar: req.Similar})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// handleLinkPage shows the call behind a link and a form to answer it. A
// GET never answers: link previews and mail scanners fetch links.
func (s *Service) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.verifyLink(r.Context(), r.PathValue("token"))
	if err != nil {
		writePage(w, statusOf(codeOf(err)), page{Error: err.Error()})
		return
	}
	v, a, err := s.Get(r.Context(), c.Approval)
	if err == nil && a.ArgsSHA256 != c.ArgsSHA256 {
		err = errorf(CodeLink, "the link is not valid for this approval")
	}
	if err != nil {
		writePage(w, statusOf(codeOf(err)), page{Error: err.Error()})
		return
	}
	v = v.Display()
	args, _ := json.MarshalIndent(v.Arguments, "", "  ")
	writePage(w, http.StatusOK, page{View: v, Args: string(args), Webhook: c.Webhook, Pending: v.State == store.ApprovalPending})
}

// handleLinkAnswer answers through a link: a form post from the link's
// page, or JSON ({"decision": "approve", "comment": "…"}).
func (s *Service) handleLinkAnswer(w http.ResponseWriter, r *http.Request) {
	asJSON := false
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		asJSON = true
	}
	fail := func(err error) {
		if asJSON {
			writeErr(w, err)
		} else {
			writePage(w, statusOf(codeOf(err)), page{Error: err.Error()})
		}
	}
	c, err := s.verifyLink(r.Context(), r.PathValue("token"))
	if err != nil {
		fail(err)
		return
	}
	var req struct {
		Decision string `json:"decision"`
		Comment  string `json:"comment"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if asJSON {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(errorf(CodeInvalid, "the request is not valid JSON for this endpoint: %v", err))
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			fail(errorf(CodeInvalid, "the request is not a form: %v", err))
			return
		}
		req.Decision, req.Comment = r.PostForm.Get("decision"), r.PostForm.Get("comment")
	}
	if req.Decision != "approve" && req.Decision != "deny" {
		fail(errorf(CodeInvalid, "decision must be approve or deny"))
		return
	}
	_, a, err := s.Get(r.Context(), c.Approval)
	if err == nil && a.ArgsSHA256 != c.ArgsSHA256 {
		err = errorf(CodeLink, "the link is not valid for this approval")
	}
	if err != nil {
		fail(err)
		return
	}
	who := Approver{Webhook: c.Webhook, Channel: ChannelLink}
	v, err := s.Decide(r.Context(), c.Approval, who, Answer{Approve: req.Decision == "approve", Comment: strings.TrimSpace(req.Comment)})
	if err != nil {
		fail(err)
		return
	}
	if asJSON {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writePage(w, http.StatusOK, page{View: v.Display(), Webhook: c.Webhook, Done: true})
}

type page struct {
	View    *View
	Args    string
	Webhook string
	Pending bool
	Done    bool
	Error   string
}

// pageTmpl is the link's page: no scripts, no external resources; the
// template escapes everything it shows. Its referrer policy is
// same-origin, not no-referrer: with no-referrer browsers send "Origin:
// null" on the form's post, which the front door refuses; the link (in the
// page's URL) still never leaves toolgate's origin.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="same-origin"><title>toolgate approval</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}pre{background:#f4f4f4;padding:1em;overflow:auto}
.err{color:#a00}dt{font-weight:600}button{font-size:1em;padding:.4em 1.2em;margin-right:1em}textarea{width:100%}</style></head><body>
<h1>toolgate approval</h1>
{{if .Error}}<p class="err">{{.Error}}</p>{{else}}{{with .View}}
<dl><dt>Approval</dt><dd>{{.ID}} ({{.State}}{{if .Answer}}: {{.Answer.Approver}}{{if .Answer.Comment}}, “{{.Answer.Comment}}”{{end}}{{end}})</dd>
<dt>Caller</dt><dd>{{.Principal}}{{if .Owner}} acting for {{.Owner}}{{end}}</dd>
<dt>Tool</dt><dd>{{.Tool}}</dd>
{{if .Task}}<dt>Task</dt><dd>{{.Task.ID}} {{.Task.Purpose}}</dd>{{end}}
<dt>Why it needs approval</dt><dd>{{range .Reasons}}{{.}}<br>{{end}}</dd>
<dt>Answer by</dt><dd>{{.ExpiresAt.Format "2006-01-02 15:04:05 MST"}}</dd></dl>{{end}}
{{if .Done}}<p>Your answer is recorded.</p>{{else}}<h2>Arguments</h2><pre>{{.Args}}</pre>
{{if .Pending}}<form method="post"><p><label>Comment<br><textarea name="comment" rows="3" maxlength="1000"></textarea></label></p>
<button name="decision" value="approve">Approve this call</button><button name="decision" value="deny">Deny</button></form>
<p>Your answer is recorded as Webhook::"{{.Webhook}}". Approving lets this exact call run once.</p>{{end}}{{end}}{{end}}
</body></html>
`))

func writePage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
}

// writeJSON is httpapi.WriteJSON with hidden characters escaped (the same
// values for a program, visible to a person reading the JSON).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, CodeStore, "the answer cannot be encoded: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(escapeJSON(b), '\n'))
}

func codeOf(err error) string {
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return CodeInvalid
}

// statusOf maps an error code to an HTTP status.
func statusOf(code string) int {
	switch {
	case code == CodeNotFound:
		return http.StatusNotFound
	case code == CodeNotPending:
		return http.StatusConflict
	case code == CodeForbidden || code == CodeAgentApprover || code == CodeSelf || code == CodeFourEyes:
		return http.StatusForbidden
	case code == CodeLink:
		return http.StatusUnauthorized
	case code == CodeStore || code == "identity.jwks_unavailable":
		return http.StatusServiceUnavailable
	case strings.HasPrefix(code, "identity."):
		return http.StatusUnauthorized
	default:
		return http.StatusBadRequest
	}
}

func writeErr(w http.ResponseWriter, err error) {
	code := codeOf(err)
	httpapi.WriteError(w, statusOf(code), code, err.Error())
}
