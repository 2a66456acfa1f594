package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// WebhookPayload is the JSON a "json" webhook receives for a new pending
// approval.
type WebhookPayload struct {
	Type string `json:"type"` // "toolgate.approval.requested"
	// Text is a one-line summary for people.
	Text     string `json:"text"`
	Approval *View  `json:"approval"`
	// Link answers the approval (GET shows the call and a form; POST with
	// decision=approve|deny and an optional comment answers). It expires
	// at LinkExpiresAt.
	Link          string    `json:"link"`
	LinkExpiresAt time.Time `json:"link_expires_at"`
}

// PayloadType is WebhookPayload.Type.
const PayloadType = "toolgate.approval.requested"

// webhookAttempts and webhookBackoff: a webhook is tried a few times; the
// call keeps waiting whatever happens, and can be answered by the API or
// the CLI.
const webhookAttempts = 3

var webhookBackoff = time.Second

// announce tells the configured webhooks (and, with elicitation, the MCP
// client's user) of a new pending approval. Delivery runs in the
// background: it never decides anything, and its failures are logged.
func (s *Service) announce(ctx context.Context, a *store.Approval, rec *Record) {
	view := viewOf(a, rec, s.now())
	for _, w := range s.cfg.Webhooks {
		link, err := s.linkURL(ctx, a.ID, a.ArgsSHA256, w.Name, a.ExpiresAt)
		if err != nil {
			s.o.Log.Error("cannot sign the link of a webhook; it is not sent", "webhook", w.Name, "approval", a.ID, "error", err)
			continue
		}
		v := *view
		if !w.IncludeArguments {
			v.Arguments = nil
		}
		body, err := payload(w, &v, link, s.now().Add(s.cfg.LinkTTL), a.ExpiresAt)
		if err != nil {
			s.o.Log.Error("cannot build a webhook payload", "webhook", w.Name, "error", err)
			continue
		}
		s.deliveries.Add(1)
		go func() {
			defer s.deliveries.Done()
			s.post(w, a.ID, body)
		}()
	}
	if s.cfg.Elicitation {
		s.elicit(ctx, a, rec)
	}
}

func payload(w WebhookConfig, v *View, link string, linkExp, deadline time.Time) ([]byte, error) {
	if deadline.Before(linkExp) {
		linkExp = deadline
	}
	text := summary(v)
	var b []byte
	var err error
	if w.Format == FormatSlack {
		b, err = slackMessage(v.Display(), text, link)
	} else {
		b, err = json.Marshal(WebhookPayload{Type: PayloadType, Text: text, Approval: v, Link: link, LinkExpiresAt: linkExp.UTC()})
	}
	// Hidden characters in the JSON become escapes: the receiver decodes
	// the same values, a person reading the JSON sees them.
	return escapeJSON(b), err
}

// summary is one line for people: who wants to call what, and why it needs
// an approval. Hidden characters are shown as escapes.
func summary(v *View) string {
	v = v.Display()
	var b strings.Builder
	fmt.Fprintf(&b, "%s wants to call %s", v.Principal, v.Tool)
	if v.Owner != "" {
		fmt.Fprintf(&b, " for %s", v.Owner)
	}
	if v.Task != nil && v.Task.Purpose != "" {
		fmt.Fprintf(&b, " (task %q)", v.Task.Purpose)
	}
	if len(v.Reasons) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(v.Reasons, "; "))
	}
	fmt.Fprintf(&b, ". Approval %s, until %s.", v.ID, v.ExpiresAt.Format(time.RFC3339))
	return b.String()
}

// slackMessage is a Slack incoming-webhook message: the summary, the
// arguments if included, and a button that opens the link.
func slackMessage(v *View, text, link string) ([]byte, error) {
	type textObj struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type element struct {
		Type  string  `json:"type"`
		Text  textObj `json:"text"`
		URL   string  `json:"url"`
		Style string  `json:"style,omitempty"`
	}
	type block struct {
		Type     string    `json:"type"`
		Text     *textObj  `json:"text,omitempty"`
		Elements []element `json:"elements,omitempty"`
	}
	blocks := []block{{Type: "section", Text: &textObj{Type: "mrkdwn", Text: slackEscape(text)}}}
	if len(v.Arguments) > 0 {
		args, _ := json.MarshalIndent(v.Arguments, "", "  ")
		blocks = append(blocks, block{Type: "section", Text: &textObj{Type: "mrkdwn", Text: "```" + slackEscape(string(args)) + "```"}})
	}
	blocks = append(blocks, block{Type: "actions", Elements: []element{{
		Type: "button", Text: textObj{Type: "plain_text", Text: "Review and answer"}, URL: link, Style: "primary"}}})
	return json.Marshal(map[string]any{"text": slackEscape(text) + " <" + link + "|Review and answer>", "blocks": blocks})
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s *Service) post(w WebhookConfig, id string, body []byte) {
	wait := webhookBackoff
	for attempt := 1; ; attempt++ {
		err := s.postOnce(w, id, body)
		if err == nil {
			s.o.Log.Info("webhook sent", "webhook", w.Name, "approval", id)
			return
		}
		if attempt == webhookAttempts {
			s.o.Log.Error("webhook failed; the approval can still be answered through the API or the CLI", "webhook", w.Name, "approval", id, "error", err)
			return
		}
		s.o.Log.Warn("webhook failed; trying again", "webhook", w.Name, "approval", id, "attempt", attempt, "error", err)
		time.Sleep(wait)
		wait *= 2
	}
}

func (s *Service) postOnce(w WebhookConfig, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "toolgate")
	req.Header.Set("X-Toolgate-Approval", id)
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}
