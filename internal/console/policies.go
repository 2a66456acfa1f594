package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/toolgate/toolgate/internal/authzen"
	"github.com/toolgate/toolgate/internal/call"
)

type policyRow struct {
	ID, Effect, Reason, Approval, Location, Source string
}

type layerRow struct {
	Name, Version string
	Policies      []policyRow
}

type policiesData struct {
	Layers      []layerRow
	ReloadError string
	WatchError  string
	Request     string
	Result      *call.Decision
	TryError    string
}

// sampleRequest fills the try-it panel the first time.
const sampleRequest = `{
  "subject": {"type": "agent", "id": "bot", "properties": {"groups": [], "owner": "alice"}},
  "action": {"name": "server/tool"},
  "resource": {"type": "server", "id": "server"},
  "context": {"input": {}}
}`

func (c *Console) policiesAllowed(w http.ResponseWriter, r *http.Request, s *session) bool {
	if !c.mayPage(s, ActionReadPolicies, resPolicies) {
		c.fail(w, r, s, http.StatusForbidden, CodeForbidden, s.Name()+" may not see the policies (Action::\"ReadPolicies\")")
		return false
	}
	return true
}

func (c *Console) policiesData() policiesData {
	d := policiesData{ReloadError: c.o.Policies.LastReloadError(), WatchError: c.o.Policies.WatchError(), Request: sampleRequest}
	for _, l := range c.o.Policies.Layers() {
		if l == nil {
			continue
		}
		lr := layerRow{Name: l.Name, Version: l.Version}
		for _, p := range l.Policies() {
			effect := "permit"
			if p.Forbid {
				effect = "forbid"
			}
			src := ""
			if cp := p.Cedar(); cp != nil {
				src = string(cp.MarshalCedar())
			}
			lr.Policies = append(lr.Policies, policyRow{ID: p.ID, Effect: effect, Reason: p.Reason, Approval: p.Approval, Location: p.Location(), Source: src})
		}
		d.Layers = append(d.Layers, lr)
	}
	return d
}

func (c *Console) policiesPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.policiesAllowed(w, r, s) {
		return
	}
	c.render(w, http.StatusOK, "policies", s, view{Title: "Policies", Nav: "policies", Data: c.policiesData()})
}

// maxTryBytes bounds a try-it request.
const maxTryBytes = 64 << 10

// tryPolicy decides an AuthZEN evaluation request against the policies in
// force, as the AuthZEN API would, with no side effect: no approval is
// opened, no budget spent, nothing recorded.
func (c *Console) tryPolicy(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.policiesAllowed(w, r, s) {
		return
	}
	d := c.policiesData()
	d.Request = r.PostForm.Get("request")
	status := http.StatusOK
	switch {
	case c.o.DryRun == nil:
		d.TryError = "decisions cannot be tried here"
	case len(d.Request) > maxTryBytes:
		d.TryError = "the request is larger than 64 KiB"
	default:
		dec, err := c.dryRun(r, []byte(strings.TrimSpace(d.Request)))
		if err != nil {
			d.TryError = err.Error()
			status = http.StatusBadRequest
		} else {
			d.Result = dec
		}
	}
	c.o.Log.Info("console: a decision was tried", "by", s.Name())
	c.render(w, status, "policies", s, view{Title: "Policies", Nav: "policies", Data: d})
}

func (c *Console) dryRun(r *http.Request, body []byte) (*call.Decision, error) {
	req, err := authzen.ParseEvaluation(body)
	if err != nil {
		return nil, err
	}
	cl, err := req.CallAs(c.o.Now(), nil)
	if err != nil {
		if _, ok := authzen.Unsupported(err); ok {
			return nil, errors.New("the request is not about a tool call: " + err.Error())
		}
		return nil, err
	}
	dec := c.o.DryRun(r.Context(), cl)
	return &dec, nil
}
