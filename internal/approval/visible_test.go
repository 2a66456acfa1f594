package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/keys"
)

// tricks are characters that hide or reorder what a person reads.
var tricks = map[string]string{
	"\u202E":     `\u202E`,     // right-to-left override
	"\u202A":     `\u202A`,     // left-to-right embedding
	"\u2066":     `\u2066`,     // left-to-right isolate
	"\u2069":     `\u2069`,     // pop directional isolate
	"\u200F":     `\u200F`,     // right-to-left mark
	"\u061C":     `\u061C`,     // Arabic letter mark
	"\u200B":     `\u200B`,     // zero-width space
	"\u200D":     `\u200D`,     // zero-width joiner
	"\u2060":     `\u2060`,     // word joiner
	"\uFEFF":     `\uFEFF`,     // zero-width no-break space
	"\u00AD":     `\u00AD`,     // soft hyphen
	"\u00A0":     `\u00A0`,     // no-break space
	"\u3000":     `\u3000`,     // ideographic space
	"\u2028":     `\u2028`,     // line separator
	"\u3164":     `\u3164`,     // Hangul filler
	"\uFE0F":     `\uFE0F`,     // variation selector
	"\u2800":     `\u2800`,     // Braille blank
	"\U000E0041": `\U000E0041`, // tag latin capital A
	"\U000F0000": `\U000F0000`, // private use
	"\x1b[2J":    `\u001B[2J`,  // a terminal escape
	"\r":         `\u000D`,
}

func TestVisible(t *testing.T) {
	for in, want := range tricks {
		s := "pay " + in + "acct"
		if got := Visible(s); got != "pay "+want+"acct" {
			t.Errorf("Visible(%+q) = %q, want %q", s, got, "pay "+want+"acct")
		}
	}
	// What a person can read stays as it is: letters of every script,
	// right-to-left ones too, accents, emoji, symbols, one space.
	for _, s := range []string{"plain text", "café naïve", "שלום עולם", "مرحبا", "日本語", "👍🏽 ✓ €", "a\\u202Eb", "e\u0301"} {
		if got := Visible(s); got != s {
			t.Errorf("Visible(%q) = %q", s, got)
		}
	}
	if got := Visible("a\xffb"); got != `a\xFFb` {
		t.Errorf("invalid UTF-8: %q", got)
	}
	if got := visibleLayout("{\n\t\"a\": \"\u202E\"\n}"); got != "{\n\t\"a\": \"\\u202E\"\n}" {
		t.Errorf("layout: %q", got)
	}
}

// TestApproversSeeHiddenCharacters: a call whose arguments and purpose
// hide characters is shown with them escaped wherever a person reads it,
// and the JSON for programs still decodes to the exact values.
func TestApproversSeeHiddenCharacters(t *testing.T) {
	hook := make(chan []byte, 2)
	wh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hook <- b
	}))
	defer wh.Close()
	ks, err := keys.OpenFile(t.TempDir(), keys.Config{}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{Elicitation: true, PublicURL: "http://toolgate.test", Webhooks: []WebhookConfig{
		{Name: "ops", URL: wh.URL, IncludeArguments: true}, {Name: "chat", URL: wh.URL, Format: FormatSlack, IncludeArguments: true}}},
		func(o *Options) { o.Links = keys.NewTokens(ks, "toolgate") })
	c := payCall(100)
	var b strings.Builder
	for trick := range tricks {
		b.WriteString(trick)
	}
	all := b.String()
	to, _ := json.Marshal("acct-9" + all + "evil")
	c.Input = json.RawMessage(`{"amount": 100, "to": ` + string(to) + `}`)
	c.Task.Purpose = "rent" + all
	elicited := make(chan string, 1)
	ctx, cancel := context.WithCancel(WithElicitor(context.Background(), elicitFunc(func(msg string) { elicited <- msg })))
	defer cancel()
	go e.pipe.Execute(ctx, c, func(context.Context, *call.Call, *call.Credential) call.Outcome { return call.Outcome{} })
	p := e.pending(t)

	var bodies [][]byte
	for range 2 {
		select {
		case body := <-hook:
			bodies = append(bodies, body)
		case <-time.After(10 * time.Second):
			t.Fatal("a webhook did not come")
		}
	}
	var payload WebhookPayload
	for _, body := range bodies {
		if bytes.Contains(body, []byte(`"type"`)) {
			if err := json.Unmarshal(body, &payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	var api bytes.Buffer
	if err := WriteJSON(&api, p); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, p)
	cli := p.Display()
	shown := map[string]string{
		"webhook 1": string(bodies[0]), "webhook 2": string(bodies[1]), "webhook text": payload.Text,
		"elicitation": <-elicited, "api": rec.Body.String(), "cli json": api.String(),
		"cli view": cli.Task.Purpose + string(cli.Arguments),
	}
	// The link's page.
	link := payload.Link[strings.Index(payload.Link, LinkPath):]
	req := httptest.NewRequest("GET", link, nil)
	req.SetPathValue("token", strings.TrimPrefix(link, LinkPath))
	page := httptest.NewRecorder()
	e.svc.handleLinkPage(page, req)
	if page.Code != 200 {
		t.Fatalf("link page: %d %s", page.Code, page.Body)
	}
	shown["link page"] = page.Body.String()
	for where, text := range shown {
		if i := strings.IndexFunc(text, func(r rune) bool { return hidden(r) && r != '\n' && r != '\t' }); i >= 0 {
			r, _ := utf8.DecodeRuneInString(text[i:])
			t.Errorf("%s shows %U as itself: %q", where, r, text)
		}
		if !strings.Contains(strings.ToLower(text), `\u202e`) {
			t.Errorf("%s does not show the override: %q", where, text)
		}
	}
	// Programs decode the exact values.
	var got View
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Task.Purpose != c.Task.Purpose {
		t.Fatalf("api: %v, purpose %q", err, got.Task.Purpose)
	}
	var args struct{ To string }
	if err := json.Unmarshal(got.Arguments, &args); err != nil || args.To != "acct-9"+all+"evil" {
		t.Fatalf("api arguments: %v %q", err, args.To)
	}
}

// FuzzVisible: nothing hidden survives Visible, and escapeJSON keeps JSON
// valid, with the same values and nothing hidden.
func FuzzVisible(f *testing.F) {
	for trick := range tricks {
		f.Add("x" + trick + "y")
	}
	f.Add("plain")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		out := Visible(s)
		if !utf8.ValidString(out) || strings.IndexFunc(out, hidden) >= 0 {
			t.Fatalf("Visible(%+q) = %+q", s, out)
		}
		b, err := json.Marshal(map[string]string{s: s})
		if err != nil {
			return
		}
		esc := escapeJSON(b)
		var back, orig map[string]string
		if err := json.Unmarshal(esc, &back); err != nil {
			t.Fatalf("escapeJSON(%s) = %s: %v", b, esc, err)
		}
		_ = json.Unmarshal(b, &orig)
		for k, v := range orig {
			if back[k] != v {
				t.Fatalf("escapeJSON changed %+q to %+q", v, back[k])
			}
		}
		if strings.IndexFunc(string(esc), func(r rune) bool { return hidden(r) && r >= 0x80 }) >= 0 {
			t.Fatalf("escapeJSON left a hidden character: %+q", esc)
		}
	})
}
