package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestOTLPRedirect: an OTLP receiver that redirects to another origin does
// not get the records and the configured headers re-sent there.
func TestOTLPRedirect(t *testing.T) {
	var thiefGot atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { thiefGot.Add(1) }))
	defer thief.Close()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(thief.URL, "127.0.0.1", "localhost", 1)+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer rcv.Close()
	post, err := otlpPoster(OTLPConfig{Endpoint: rcv.URL, Headers: map[string]string{"Authorization": "Bearer collector-key"}}, "/v1/logs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := post(context.Background(), []byte("records")); err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("a redirected export: %v", err)
	}
	if n := thiefGot.Load(); n != 0 {
		t.Fatalf("the other origin received %d requests", n)
	}
}
