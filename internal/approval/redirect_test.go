package approval

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWebhookRedirect: a webhook receiver that redirects to another origin
// does not get the approval (and its signed link) re-sent there; one that
// redirects within its origin does.
func TestWebhookRedirect(t *testing.T) {
	var thiefGot, finalGot atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { thiefGot.Add(1) }))
	defer thief.Close()
	var hook *httptest.Server
	hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, strings.Replace(thief.URL, "127.0.0.1", "localhost", 1)+"/hook", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, hook.URL+"/final", http.StatusPermanentRedirect)
		case "/final":
			if b, _ := io.ReadAll(r.Body); string(b) == `{"link":"signed"}` {
				finalGot.Add(1)
			}
		}
	}))
	defer hook.Close()
	e := newEnv(t, Config{})
	body := []byte(`{"link":"signed"}`)
	if err := e.svc.postOnce(WebhookConfig{Name: "h", URL: hook.URL + "/away"}, "apv_1", body); err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("a webhook redirected to another origin: %v", err)
	}
	if err := e.svc.postOnce(WebhookConfig{Name: "h", URL: hook.URL + "/moved"}, "apv_1", body); err != nil || finalGot.Load() != 1 {
		t.Fatalf("a webhook redirected within its origin: %v (delivered %d)", err, finalGot.Load())
	}
	if n := thiefGot.Load(); n != 0 {
		t.Fatalf("the other origin received %d requests", n)
	}
}
