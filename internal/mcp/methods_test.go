package mcp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/testutil"
)

// The method table in docs/mcp-proxy.md is the code's, row for row.
func TestDocsListEveryMethod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "mcp-proxy.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start, end := strings.Index(doc, "<!-- methods:start -->"), strings.Index(doc, "<!-- methods:end -->")
	if start < 0 || end < start {
		t.Fatal("docs/mcp-proxy.md has no methods:start/methods:end table")
	}
	var want strings.Builder
	want.WriteString("| Client → server | As | What toolgate does |\n|---|---|---|\n")
	for _, r := range ClientMethods() {
		as := "request"
		if r.Notification {
			as = "notification"
		}
		want.WriteString("| `" + r.Method + "` | " + as + " | " + r.Action.String() + " |\n")
	}
	got := strings.TrimSpace(doc[start+len("<!-- methods:start -->") : end])
	if got != strings.TrimSpace(want.String()) {
		t.Errorf("docs/mcp-proxy.md's method table is not the code's; it should read:\n%s", want.String())
	}
}

func TestMethodTable(t *testing.T) {
	for _, tt := range []struct {
		method string
		notif  bool
		want   Action
	}{
		{"tools/call", false, Judge},
		{"tools/call", true, RefuseCall},
		{"TOOLS/CALL", false, Refuse},
		{"TOOLS/CALL", true, Refuse},
		{"tools/call ", false, Refuse},
		{"vendor/exec", false, Refuse},
		{"resources/read", true, Refuse},
		{"notifications/initialized", true, Forward},
		{"notifications/initialized", false, Refuse},
		{"", false, Refuse},
	} {
		got := ClientRequest(tt.method)
		if tt.notif {
			got = ClientNotification(tt.method)
		}
		if got != tt.want {
			t.Errorf("%q (notification %v): %v, want %v", tt.method, tt.notif, got, tt.want)
		}
	}
}
