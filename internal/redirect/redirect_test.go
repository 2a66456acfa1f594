package redirect_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/redirect"
)

// recorder is a server that records everything it receives: where a
// refused redirect points, it must receive nothing.
type recorder struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req.Method+" "+req.URL.String()+" "+req.Header.Get("X-Secret")+" "+string(b))
		r.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// redirector answers every request with code to target+path.
func redirector(t *testing.T, code int, target func() string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			_, _ = io.WriteString(w, "final")
			return
		}
		w.Header().Set("Location", target()+"/final")
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func post(c *http.Client, url string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"secret":"body"}`))
	req.Header.Set("X-Secret", "s3cr3t")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

func TestRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		thief := newRecorder(t)
		// Another origin: another port on the same host, and another host
		// name for the same address.
		for _, target := range []string{thief.URL, strings.Replace(thief.URL, "127.0.0.1", "localhost", 1)} {
			src := redirector(t, code, func() string { return target })
			for name, check := range map[string]func(*http.Request, []*http.Request) error{"Never": redirect.Never, "SameOrigin": redirect.SameOrigin} {
				_, err := post(redirect.Client(nil, check), src.URL+"/start")
				var re *redirect.Error
				if !errors.As(err, &re) {
					t.Fatalf("%s, %d to %s: %v, want a refused redirect", name, code, target, err)
				}
			}
		}
		if got := thief.received(); len(got) != 0 {
			t.Fatalf("%d: the other origin received %q", code, got)
		}
	}

	// The same origin: SameOrigin follows, Never does not.
	var self *httptest.Server
	self = redirector(t, 307, func() string { return self.URL })
	if body, err := post(redirect.Client(nil, redirect.SameOrigin), self.URL+"/start"); err != nil || body != "final" {
		t.Fatalf("same-origin redirect: %q, %v", body, err)
	}
	if _, err := post(redirect.Client(nil, redirect.Never), self.URL+"/start"); err == nil {
		t.Fatal("Never followed a same-origin redirect")
	}
	// An endless same-origin loop ends.
	var loop *httptest.Server
	loop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusTemporaryRedirect)
	}))
	defer loop.Close()
	if _, err := post(redirect.Client(nil, redirect.SameOrigin), loop.URL); err == nil {
		t.Fatal("a redirect loop was followed forever")
	}
}

// TestClientKeepsSettings: Client copies the client and leaves the original
// alone.
func TestClientKeepsSettings(t *testing.T) {
	orig := &http.Client{Timeout: 7}
	c := redirect.Client(orig, redirect.Never)
	if c.Timeout != 7 || orig.CheckRedirect != nil || c.CheckRedirect == nil {
		t.Fatalf("Client: %+v from %+v", c, orig)
	}
}
