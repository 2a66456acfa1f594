package task

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/keys"
)

// Token formats (contract: docs/design.md, "Interfaces"; docs/tasks.md).
const (
	// TokenType is the JOSE "typ" of a task token.
	TokenType = "toolgate-task+jwt"
	// TokenTypeURI names a task token in RFC 8693 token exchange
	// (subject_token_type, requested_token_type, issued_token_type).
	TokenTypeURI = "urn:toolgate:params:oauth:token-type:task"
	// Audience is the "aud" of every task token: only toolgate accepts it.
	Audience = "toolgate"
)

// Claims is the payload of a task token.
//
//	{"iss": "toolgate", "aud": "toolgate", "sub": "orchestrator",
//	 "iat": …, "nbf": …, "exp": …, "jti": "tsk_…",
//	 "act": {"sub": "summariser", "act": {"sub": "researcher"}},
//	 "task": {"id": "tsk_…", "purpose": "…", "owner": "alice", "depth": 2,
//	          "hops": [{"id": "tsk_a", "agent": "orchestrator", "purpose": "…", "scope": {…}, "budget": {…}},
//	                   {"id": "tsk_b", "agent": "researcher", …},
//	                   {"id": "tsk_c", "agent": "summariser", …}]}}
//
// "sub" is the agent the task was first given to; "act" follows RFC 8693:
// the outermost act.sub is the current actor (the agent that must present
// the token), nested acts are the earlier delegates; a root task has no act.
// "task.hops" carries each hop's id and scope, root first, so every layer of
// the chain can be evaluated from the token alone (signatures are all that
// is trusted); the store is asked only whether a hop was revoked.
type Claims struct {
	Issuer    string    `json:"iss"`
	Audience  string    `json:"aud"`
	Subject   string    `json:"sub"`
	IssuedAt  int64     `json:"iat"`
	NotBefore int64     `json:"nbf"`
	Expiry    int64     `json:"exp"`
	ID        string    `json:"jti"`
	Act       *Actor    `json:"act,omitempty"`
	Task      TaskClaim `json:"task"`
}

// Actor is an RFC 8693 "act" claim.
type Actor struct {
	Subject string `json:"sub"`
	Act     *Actor `json:"act,omitempty"`
}

// TaskClaim is the "task" claim.
type TaskClaim struct {
	ID      string `json:"id"`
	Purpose string `json:"purpose"`
	Owner   string `json:"owner,omitempty"`
	Depth   int    `json:"depth"`
	Hops    []Hop  `json:"hops"`
}

// Hop is one task on the chain: the root task or one delegation.
type Hop struct {
	ID      string  `json:"id"`
	Agent   string  `json:"agent"`
	Purpose string  `json:"purpose,omitempty"`
	Scope   Scope   `json:"scope"`
	Budget  *Budget `json:"budget,omitempty"`
	Expiry  int64   `json:"exp"`
}

// Budget limits the calls of a task (and, through delegation, of everything
// below it: a call spends from every hop of its chain). Zero means no limit.
type Budget struct {
	Total   int64            `json:"total,omitempty"`
	PerTool map[string]int64 `json:"per_tool,omitempty"`
}

func (b *Budget) empty() bool { return b == nil || (b.Total == 0 && len(b.PerTool) == 0) }

func (b *Budget) validate() error {
	if b == nil {
		return nil
	}
	if b.Total < 0 {
		return errors.New("budget.total is negative")
	}
	for k, v := range b.PerTool {
		if err := checkPattern(k); err != nil || strings.Contains(k, "*") {
			return fmt.Errorf("budget.per_tool: %q is not a \"server/tool\"", k)
		}
		if v <= 0 {
			return fmt.Errorf("budget.per_tool.%s: %d is not a positive number of calls", k, v)
		}
	}
	return nil
}

// Chain is the agents on the chain, outermost (current) actor first.
func (c *Claims) Chain() []string {
	out := make([]string, len(c.Task.Hops))
	for i, h := range c.Task.Hops {
		out[len(out)-1-i] = h.Agent
	}
	return out
}

// Actor is the agent that must present the token.
func (c *Claims) Actor() string { return c.Task.Hops[len(c.Task.Hops)-1].Agent }

// Current is the token's own hop.
func (c *Claims) Current() *Hop { return &c.Task.Hops[len(c.Task.Hops)-1] }

// actFor builds the act claim of a chain of hops (root first).
func actFor(hops []Hop) *Actor {
	var act *Actor
	for _, h := range hops[1:] {
		act = &Actor{Subject: h.Agent, Act: act}
	}
	return act
}

// check verifies what the signature cannot: that the token is one toolgate
// would have issued (consistent chain, act and hops, depth within limits).
// Signed tokens always pass; this is defence in depth for the parser.
func (c *Claims) check(maxDepth int) error {
	if c.Audience != Audience {
		return fmt.Errorf("its audience is %q, not %q", c.Audience, Audience)
	}
	n := len(c.Task.Hops)
	if n == 0 || n > maxDepth+1 || c.Task.Depth != n-1 {
		return fmt.Errorf("its chain has %d hops for depth %d (maximum depth %d)", n, c.Task.Depth, maxDepth)
	}
	if c.ID == "" || c.ID != c.Task.ID || c.Current().ID != c.ID {
		return errors.New("its task id, jti and last hop disagree")
	}
	if c.Subject == "" || c.Subject != c.Task.Hops[0].Agent {
		return errors.New("its subject is not the root task's agent")
	}
	seen := map[string]bool{}
	for _, h := range c.Task.Hops {
		if h.ID == "" || h.Agent == "" || seen[h.ID] {
			return errors.New("a hop has no id or agent, or repeats an id")
		}
		seen[h.ID] = true
		if err := h.Scope.Validate(); err != nil {
			return err
		}
		if err := h.Budget.validate(); err != nil {
			return err
		}
	}
	var acts []string
	for a, depth := c.Act, 0; a != nil; a, depth = a.Act, depth+1 {
		if depth > maxDepth {
			return errors.New("its act claim is nested too deep")
		}
		acts = append(acts, a.Subject)
	}
	want := c.Chain()[:n-1]
	if !slices.Equal(acts, want) {
		return fmt.Errorf("its act chain %v does not match its hops %v", acts, want)
	}
	return nil
}

// Stable codes of task failures.
const (
	CodeMissingToken    = "task.token_missing"
	CodeMalformed       = "task.malformed"
	CodeSignature       = "task.signature"
	CodeExpired         = "task.expired"
	CodeRevoked         = "task.revoked"
	CodeUnknown         = "task.unknown"
	CodeWrongAgent      = "task.wrong_agent"
	CodeOwnerMismatch   = "task.owner_mismatch"
	CodeBudgetExhausted = "task.budget_exhausted"
	CodeStore           = "task.store_unavailable"
	CodeScope           = "task.scope_invalid"
	CodeWidened         = "task.scope_widened"
	CodeTTL             = "task.ttl"
	CodeBudget          = "task.budget_invalid"
	CodeDepth           = "task.depth"
	CodeForbidden       = "task.forbidden"
	CodeInvalid         = "task.invalid_request"
	CodeNotFound        = "task.not_found"
)

// verifyCodes maps why keys.Tokens rejected a token to a task code.
var verifyCodes = map[string]string{
	keys.ReasonMalformed:   CodeMalformed,
	keys.ReasonAlgorithm:   CodeSignature,
	keys.ReasonType:        CodeMalformed,
	keys.ReasonUnknownKey:  CodeSignature,
	keys.ReasonSignature:   CodeSignature,
	keys.ReasonIssuer:      CodeSignature,
	keys.ReasonExpired:     CodeExpired,
	keys.ReasonNotYetValid: CodeExpired,
	keys.ReasonClaims:      CodeMalformed,
}

// ParseToken verifies a task token (signature, type, issuer, times) and its
// structure. It does not look at revocation: Resolve does.
func ParseToken(ctx context.Context, tk *keys.Tokens, raw string, maxDepth int) (*Claims, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, call.Errorf(CodeMissingToken, "no task token was presented")
	}
	var c Claims
	if _, err := tk.Verify(ctx, raw, TokenType, &c); err != nil {
		var ve *keys.VerifyError
		if errors.As(err, &ve) {
			code := verifyCodes[ve.Reason]
			if code == "" {
				code = CodeMalformed
			}
			return nil, call.Errorf(code, "the task token is rejected: %s", ve.Message)
		}
		return nil, call.Errorf(CodeSignature, "the task token cannot be verified: %v", err)
	}
	if err := c.check(maxDepth); err != nil {
		return nil, call.Errorf(CodeMalformed, "the task token is rejected: %v", err)
	}
	return &c, nil
}
