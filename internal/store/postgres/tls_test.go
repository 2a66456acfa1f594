package postgres

import (
	"strings"
	"testing"
)

// TestTLSWarning: a database on another host is warned about unless its
// certificate is checked; one on this host never is.
func TestTLSWarning(t *testing.T) {
	for _, tt := range []struct {
		url  string
		warn string // "" for none, else a part of the warning
	}{
		{"postgres://u@db.internal/toolgate", "db.internal with TLS whose certificate is not checked"}, // libpq's default: prefer
		{"postgres://u@db.internal/toolgate?sslmode=disable", "db.internal without TLS"},
		{"postgres://u@db.internal/toolgate?sslmode=allow", "db.internal"},
		{"postgres://u@db.internal/toolgate?sslmode=require", "db.internal with TLS whose certificate is not checked"},
		{"postgres://u@10.0.0.5:5432/toolgate?sslmode=prefer", "10.0.0.5"},
		{"postgres://u@db.internal/toolgate?sslmode=verify-full", ""},
		{"postgres://u@db.internal/toolgate?sslmode=verify-ca", ""},
		{"postgres://u@127.0.0.1:5432/toolgate?sslmode=disable", ""},
		{"postgres://u@localhost/toolgate", ""},
		{"postgres://u@[::1]:5432/toolgate?sslmode=disable", ""},
		{"postgres:///toolgate?host=/var/run/postgresql", ""},
		{"postgres://u@db1.internal,db2.internal/toolgate?sslmode=verify-full", ""},
		{"postgres://u@127.0.0.1,db2.internal/toolgate?sslmode=disable", "db2.internal without TLS"},
	} {
		got := TLSWarning(tt.url)
		if (tt.warn == "") != (got == "") || !strings.Contains(got, tt.warn) {
			t.Errorf("%s: %q, want %q", tt.url, got, tt.warn)
		}
		if got != "" && !strings.Contains(got, "sslmode=verify-full") {
			t.Errorf("%s: the warning does not say what to do: %q", tt.url, got)
		}
	}
}
