package approval

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
)

// Elicitor asks the person at the MCP client that made a call (MCP
// elicitation, elicitation/create). The MCP front door puts one in the
// call's context when the client supports elicitation.
type Elicitor interface {
	// Elicit sends message and the requested schema and returns the
	// client's action ("accept", "decline", "cancel") and content.
	Elicit(ctx context.Context, message string, schema json.RawMessage) (action string, content json.RawMessage, err error)
}

type elicitorKey struct{}

// WithElicitor returns ctx carrying e for the approve stage.
func WithElicitor(ctx context.Context, e Elicitor) context.Context {
	return context.WithValue(ctx, elicitorKey{}, e)
}

// ElicitSchema is the form the client shows.
var ElicitSchema = json.RawMessage(`{"type":"object","properties":{` +
	`"answer":{"type":"string","title":"Answer","enum":["approve","deny"],"enumNames":["Approve this call","Deny it"]},` +
	`"comment":{"type":"string","title":"Comment","maxLength":1000}},"required":["answer"]}`)

// elicit asks the client's person, in the background, while the call
// waits. The person answers as the human the agent acts for
// (User::"<owner>"), through the same rules and policies as any approver;
// a call with no such human is not elicited. The elicitation ends with the
// call's context.
func (s *Service) elicit(ctx context.Context, a *store.Approval, rec *Record) {
	e, _ := ctx.Value(elicitorKey{}).(Elicitor)
	if e == nil || rec.Principal.Owner == "" {
		s.o.Log.Debug("not asking through elicitation: the client does not support it, or the agent acts for nobody", "approval", a.ID)
		return
	}
	who := Approver{Principal: call.Principal{Kind: call.KindUser, ID: rec.Principal.Owner}, Channel: ChannelElicitation}
	msg := "toolgate: " + summary(viewOf(a, rec, s.now()))
	if args := string(escapeJSON(rec.Arguments)); len(args) <= 2000 {
		msg += "\nArguments: " + args
	}
	s.deliveries.Add(1)
	go func() {
		defer s.deliveries.Done()
		action, content, err := e.Elicit(ctx, msg, ElicitSchema)
		if err != nil {
			if ctx.Err() == nil {
				s.o.Log.Warn("elicitation failed; the approval waits for another answer", "approval", a.ID, "error", err)
			}
			return
		}
		var ans Answer
		switch action {
		case "accept":
			var c struct {
				Answer  string `json:"answer"`
				Comment string `json:"comment"`
			}
			if err := json.Unmarshal(content, &c); err != nil || (c.Answer != "approve" && c.Answer != "deny") {
				s.o.Log.Warn("elicitation answered without a valid answer; ignored", "approval", a.ID)
				return
			}
			ans = Answer{Approve: c.Answer == "approve", Comment: strings.TrimSpace(c.Comment)}
		case "decline":
			ans = Answer{Comment: "declined at the MCP client"}
		default: // cancel: dismissed, no answer
			return
		}
		if _, err := s.Decide(context.WithoutCancel(ctx), a.ID, who, ans); err != nil {
			s.o.Log.Warn("the answer given through elicitation is refused", "approval", a.ID, "error", err)
		}
	}()
}
