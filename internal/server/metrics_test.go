package server

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsShowAuditDurability: the audit trail's durability mode is on
// /metrics, so that "os" is never a silent setting.
func TestMetricsShowAuditDurability(t *testing.T) {
	for _, mode := range []string{"flush", "os"} {
		m := NewMetrics()
		m.AuditDurability(mode)
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		if want := `toolgate_audit_durability{mode="` + mode + `"} 1`; !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
