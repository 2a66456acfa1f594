package task_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/store/sqlite"
	"github.com/toolgate/toolgate/internal/task"
)

// TestTaskTokenRejections: forged, tampered, expired, revoked and other bad
// task tokens are refused by the task stage with a clear reason and code.
func TestTaskTokenRejections(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	local := task.Caller{Local: true}
	scope := task.Scope{Tools: []task.ToolRule{{Tool: "fs/read_file"}}}
	iss, err := e.svc.Create(ctx, local, task.CreateRequest{Agent: "researcher", Purpose: "p", Scope: scope, TTL: task.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	good := iss.Token
	e.allow("researcher", good, "fs/read_file", "")
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString

	// Forged: a well-formed token signed by another toolgate's key.
	otherDir := t.TempDir()
	okp, _ := keys.OpenFile(otherDir, keys.Config{}, keys.FileOptions{})
	odb, _ := sqlite.Open(filepath.Join(otherDir, sqlite.FileName), sqlite.Options{})
	defer odb.Close()
	other, _ := task.New(task.Config{}, task.Options{Tokens: keys.NewTokens(okp, "toolgate"), Tasks: odb, Budgets: odb})
	wide, err := other.Create(ctx, local, task.CreateRequest{Agent: "researcher", Purpose: "p", Scope: task.Scope{Tools: []task.ToolRule{{Tool: "*"}}}})
	if err != nil {
		t.Fatal(err)
	}

	// Tampered: the scope widened in the payload, signature kept.
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	claims["task"].(map[string]any)["hops"].([]any)[0].(map[string]any)["scope"] = map[string]any{"tools": []string{"*"}}
	tb, _ := json.Marshal(claims)
	tampered := parts[0] + "." + enc(tb) + "." + parts[2]

	// Signed by this toolgate but for a task it never stored.
	unknown, _ := e.tk.Sign(ctx, task.TokenType, claimsWithID(t, payload, "tsk_nowhere"))

	cases := []struct {
		name, tok, code, text string
	}{
		{"forged", wide.Token, task.CodeSignature, "does not publish"},
		{"tampered", tampered, task.CodeSignature, "altered"},
		{"alg none", enc([]byte(`{"alg":"none","typ":"toolgate-task+jwt"}`)) + "." + parts[1] + ".", task.CodeSignature, `"none"`},
		{"identity token as task token", e.op.Token(t, "researcher"), task.CodeSignature, "RS256"},
		{"garbage", "not.a.token", task.CodeMalformed, "header"},
		{"unknown task", unknown, task.CodeUnknown, "tsk_nowhere"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			d := e.deny("researcher", tc.tok, "fs/read_file", "", tc.code)
			if !strings.Contains(d.ReasonText(), tc.text) {
				t.Fatalf("reason %q does not say %q", d.ReasonText(), tc.text)
			}
			if d.Stage != "task" {
				t.Fatalf("stage %s", d.Stage)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		later, _ := task.New(task.Config{}, task.Options{Tokens: e.tk, Tasks: e.db, Budgets: e.db, Now: func() time.Time { return time.Now().Add(2 * time.Minute) }})
		e.tk.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
		defer func() { e.tk.Now = time.Now }()
		c := &call.Call{Principal: call.Principal{Kind: call.KindAgent, ID: "researcher"}, TaskToken: good, Server: call.Server{Name: "fs"}, Tool: call.Tool{Name: "read_file"}}
		_, err := later.ResolveTask(ctx, c)
		if code(err) != task.CodeExpired || !strings.Contains(err.Error(), "expired at") {
			t.Fatalf("expired: %v", err)
		}
	})

	// toolgate's own tokens expire exactly at exp: no clock-skew leeway
	// (that is for foreign identity providers), whether the token is
	// verified afresh or was verified and cached before.
	t.Run("expires exactly", func(t *testing.T) {
		exp := iss.ExpiresAt.Truncate(time.Second)
		var at time.Time
		clk := func() time.Time { return at }
		cached, _ := task.New(task.Config{}, task.Options{Tokens: e.tk, Tasks: e.db, Budgets: e.db, Now: clk})
		e.tk.Now = clk
		defer func() { e.tk.Now = time.Now }()
		c := &call.Call{Principal: call.Principal{Kind: call.KindAgent, ID: "researcher"}, TaskToken: good, Server: call.Server{Name: "fs"}, Tool: call.Tool{Name: "read_file"}}
		at = exp.Add(-time.Nanosecond)
		if _, err := cached.ResolveTask(ctx, c); err != nil {
			t.Fatalf("just before exp: %v", err)
		}
		for _, after := range []time.Duration{0, time.Second, 29 * time.Second} {
			at = exp.Add(after)
			fresh, _ := task.New(task.Config{}, task.Options{Tokens: e.tk, Tasks: e.db, Budgets: e.db, Now: clk})
			for name, svc := range map[string]*task.Service{"fresh": fresh, "cached": cached} {
				if _, err := svc.ResolveTask(ctx, c); code(err) != task.CodeExpired {
					t.Fatalf("%s service, exp+%s: %v", name, after, err)
				}
			}
		}
	})

	t.Run("revoked", func(t *testing.T) {
		e.t = t
		if _, err := e.svc.Revoke(ctx, local, iss.Task.ID, "no longer needed"); err != nil {
			t.Fatal(err)
		}
		d := e.deny("researcher", good, "fs/read_file", "", task.CodeRevoked)
		if !strings.Contains(d.ReasonText(), "no longer needed") || !strings.Contains(d.ReasonText(), iss.Task.ID) {
			t.Fatalf("reason %q", d.ReasonText())
		}
	})
}

// claimsWithID rewrites a token payload for a different task id throughout.
func claimsWithID(t *testing.T, payload []byte, id string) task.Claims {
	t.Helper()
	var c task.Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	c.ID, c.Task.ID, c.Task.Hops[0].ID = id, id, id
	return c
}
