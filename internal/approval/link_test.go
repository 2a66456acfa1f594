package approval

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/keys"
)

func linkService(t testing.TB) *Service {
	t.Helper()
	kp, err := keys.OpenFile(t.TempDir(), keys.Config{Algorithm: "EdDSA", Issuer: "toolgate", RotateAfter: time.Hour * 24, Retain: time.Hour * 25}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	links := keys.NewTokens(kp, "toolgate")
	links.Leeway = 0
	cfg := Config{PublicURL: "https://tg.example"}
	cfg.ApplyDefaults()
	s := &Service{cfg: cfg, o: Options{Links: links, Now: time.Now}, life: context.Background(), wake: make(chan struct{})}
	return s
}

// TestLinks: a link verifies as issued; changed, foreign or expired ones
// do not.
func TestLinks(t *testing.T) {
	s := linkService(t)
	ctx := context.Background()
	u, err := s.linkURL(ctx, "apv_x", "abc", "hook", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimPrefix(u, "https://tg.example"+LinkPath)
	c, err := s.verifyLink(ctx, tok)
	if err != nil || c.Approval != "apv_x" || c.ArgsSHA256 != "abc" || c.Webhook != "hook" {
		t.Fatalf("verify: %+v, %v", c, err)
	}
	// A task-token-like JWT of toolgate's (another typ) is not a link.
	other, _ := s.o.Links.Sign(ctx, "toolgate-task+jwt", map[string]any{"iss": "toolgate", "exp": time.Now().Add(time.Hour).Unix(), "approval": "apv_x"})
	if _, err := s.verifyLink(ctx, other); codeOf(err) != CodeLink {
		t.Fatalf("another token type: %v", err)
	}
	// Expired: deadline in the past.
	u, _ = s.linkURL(ctx, "apv_y", "abc", "hook", time.Now().Add(-time.Second))
	if _, err := s.verifyLink(ctx, strings.TrimPrefix(u, "https://tg.example"+LinkPath)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	// Another toolgate's link (other keys).
	foreign := linkService(t)
	u, _ = foreign.linkURL(ctx, "apv_x", "abc", "hook", time.Now().Add(time.Minute))
	if _, err := s.verifyLink(ctx, strings.TrimPrefix(u, "https://tg.example"+LinkPath)); codeOf(err) != CodeLink {
		t.Fatalf("foreign: %v", err)
	}
}

// FuzzVerifyLink: whatever arrives in a link's path, verification never
// panics and accepts nothing but a link this toolgate signed (the seed:
// another encoding of its bytes may verify too, with the same claims).
func FuzzVerifyLink(f *testing.F) {
	s := linkService(f)
	u, err := s.linkURL(context.Background(), "apv_seed", "abc", "hook", time.Now().Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	valid := strings.TrimPrefix(u, "https://tg.example"+LinkPath)
	f.Add(valid)
	f.Add("eyJhbGciOiJub25lIn0.eyJhcHByb3ZhbCI6IngifQ.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.verifyLink(context.Background(), tok)
		if err == nil && c.Approval != "apv_seed" {
			t.Fatalf("accepted %q", tok)
		}
	})
}
