package console_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/console"
)

// FuzzSafeNext: whatever a sign-in is asked to return to, it returns to a
// path of the console on this origin.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console/approvals", "//evil.example", "/console/../x", `/\evil`, "https://evil.example/console/", "/console/%2e%2e/v1", "/console/\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := console.SafeNext(next)
		if got != "/console/" && got != next {
			t.Fatalf("%q became %q", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/console/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("%q is not a console path (from %q)", got, next)
		}
		// Browsers resolve dot segments (also percent-encoded ones).
		if r := u.ResolveReference(&url.URL{}); !strings.HasPrefix(r.Path, "/console/") {
			t.Fatalf("%q resolves outside the console: %q", got, r.Path)
		}
	})
}

// FuzzParseWhen: a time filter is a time or an error, never a panic, and
// a duration is always in the past.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"1h", "2026-01-02T15:04", "2026-01-02T15:04:05Z", "-1h", "2026-01-02", "9999999999h", "x"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := console.ParseWhen(s, now)
		if err != nil {
			return
		}
		if _, derr := time.ParseDuration(s); derr == nil && got.After(now) {
			t.Fatalf("%q is after now: %v", s, got)
		}
	})
}

func TestDiffLines(t *testing.T) {
	if n := console.DiffLines("a\nb\nc", "a\nx\nc"); n != 4 {
		t.Fatalf("diff of one changed line has %d lines", n)
	}
	big := strings.Repeat("x\n", 3000)
	if n := console.DiffLines(big, big+"y"); n == 0 {
		t.Fatal("no diff of large definitions")
	}
}
