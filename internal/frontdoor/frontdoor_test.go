package frontdoor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// routes is a small set of routes behind a door, served over real HTTP on
// a loopback listener (as `toolgate serve` serves them). ran counts the
// handler runs: a refused request must never reach one.
type routes struct {
	url  string
	port string
	ran  atomic.Int64
	got  atomic.Value // last body a handler read
}

func serveDoor(t *testing.T, cfg Config, loopback bool) *routes {
	t.Helper()
	rt := &routes{}
	d := New(cfg, loopback, nil)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.ran.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		rt.got.Store(string(b))
		w.WriteHeader(http.StatusOK)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /json", d.Route(handler))
	mux.Handle("POST /form", d.Route(Accept(handler, Form)))
	mux.Handle("GET /stream", d.Route(handler))
	mux.Handle("GET /.well-known/meta", d.Route(handler))
	srv := httptest.NewUnstartedServer(d.Wrap(mux))
	srv.Config = d.Server(d.Wrap(mux))
	srv.Start()
	t.Cleanup(srv.Close)
	rt.url = srv.URL
	_, rt.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return rt
}

type req struct {
	method, path, body string
	host               string
	hdr                []string // name, value, name, value…
}

func (rt *routes) do(t *testing.T, q req) (int, string) {
	t.Helper()
	method := q.method
	if method == "" {
		method = "POST"
	}
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequest(method, rt.url+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.host != "" {
		r.Host = q.host
	}
	for i := 0; i+1 < len(q.hdr); i += 2 {
		r.Header.Add(q.hdr[i], q.hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// refusedWith checks a refusal: status, the one error-body shape, its code,
// and that no handler ran.
func (rt *routes) refusedWith(t *testing.T, name string, q req, status int, code string) {
	t.Helper()
	before := rt.ran.Load()
	got, body := rt.do(t, q)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if got != status || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s: %d %s, want %d with code %s", name, got, body, status, code)
	}
	if rt.ran.Load() != before {
		t.Errorf("%s: a handler ran for a refused request", name)
	}
}

func (rt *routes) passes(t *testing.T, name string, q req) {
	t.Helper()
	before := rt.ran.Load()
	if got, body := rt.do(t, q); got != 200 || rt.ran.Load() != before+1 {
		t.Errorf("%s: %d %s, want 200 from the handler", name, got, body)
	}
}

var jsonCT = []string{"Content-Type", "application/json"}

func TestHostOnLoopback(t *testing.T) {
	rt := serveDoor(t, Config{AllowedHosts: []string{"gw.internal"}}, true)
	p := rt.port
	for _, h := range []string{"127.0.0.1:" + p, "localhost:" + p, "LOCALHOST:" + p, "localhost.:" + p, "[::1]:" + p,
		"app.localhost:" + p, "127.0.0.2:" + p, "127.0.0.1", "localhost", "gw.internal", "GW.internal:" + p} {
		rt.passes(t, "Host "+h, req{path: "/json", body: `{}`, host: h, hdr: jsonCT})
	}
	// Names an attacker can point at 127.0.0.1 (DNS rebinding), and
	// spellings of 127.0.0.1 that are not loopback literals.
	for _, h := range []string{"evil.example:" + p, "evil.example", "127.0.0.1.nip.io:" + p, "localhost.evil.example:" + p,
		"localhost-evil.example", "0.0.0.0:" + p, "2130706433:" + p, "127.1:" + p, "0x7f000001:" + p, "[::]:" + p,
		"10.0.0.1:" + p, "gw.internal.evil.example", "xlocalhost:" + p} {
		rt.refusedWith(t, "Host "+h, req{path: "/json", body: `{}`, host: h, hdr: jsonCT}, 403, CodeHost)
		rt.refusedWith(t, "GET Host "+h, req{method: "GET", path: "/stream", host: h}, 403, CodeHost)
		rt.refusedWith(t, "well-known Host "+h, req{method: "GET", path: "/.well-known/meta", host: h}, 403, CodeHost)
	}
}

func TestHostOffLoopback(t *testing.T) {
	// Not on loopback and nothing configured: any Host (the operator is
	// warned at start).
	open := serveDoor(t, Config{}, false)
	open.passes(t, "any host", req{path: "/json", body: `{}`, host: "whatever.example", hdr: jsonCT})
	// Configured: only those.
	closed := serveDoor(t, Config{AllowedHosts: []string{"toolgate.example.com"}}, false)
	closed.passes(t, "listed", req{path: "/json", body: `{}`, host: "toolgate.example.com", hdr: jsonCT})
	closed.passes(t, "listed, port", req{path: "/json", body: `{}`, host: "toolgate.example.com:8443", hdr: jsonCT})
	for _, h := range []string{"evil.example", "127.0.0.1:" + closed.port, "toolgate.example.com.evil.example"} {
		closed.refusedWith(t, "Host "+h, req{path: "/json", body: `{}`, host: h, hdr: jsonCT}, 403, CodeHost)
	}
	star := serveDoor(t, Config{AllowedHosts: []string{"*"}}, true)
	star.passes(t, "*", req{path: "/json", body: `{}`, host: "anything.example", hdr: jsonCT})
}

func TestOrigin(t *testing.T) {
	rt := serveDoor(t, Config{AllowedOrigins: []string{"https://console.example.com", "HTTP://Tools.Example:8080/"}}, true)
	p := rt.port
	ok := []string{"http://127.0.0.1:" + p, "HTTP://127.0.0.1:" + p, "http://127.0.0.1:" + p + "/",
		"https://console.example.com", "https://console.example.com:443", "http://tools.example:8080"}
	for _, o := range ok {
		rt.passes(t, "Origin "+o, req{path: "/json", body: `{}`, hdr: []string{"Origin", o, "Content-Type", JSON}})
		rt.passes(t, "GET Origin "+o, req{method: "GET", path: "/stream", hdr: []string{"Origin", o}})
	}
	// A page on another port of this machine is another origin (a dev
	// server on localhost:3000 must not drive the gateway), and so is
	// every other site.
	bad := []string{"http://localhost:3000", "http://127.0.0.1:1", "http://localhost:" + p, "http://[::1]:" + p,
		"http://evil.example", "https://evil.example:" + p, "null", "file://", "http://127.0.0.1:" + p + "/path",
		"http://user@127.0.0.1:" + p, "https://console.example.com:8443", "http://console.example.com",
		"https://console.example.com.evil.example", "chrome-extension://abc", "http://127.0.0.1:" + p + "?q", "http://127.0.0.1:" + p + "?", "http://127.0.0.1:" + p + "#", "*", ""}
	for _, o := range bad {
		rt.refusedWith(t, "Origin "+o, req{path: "/json", body: `{}`, hdr: []string{"Origin", o, "Content-Type", JSON}}, 403, CodeOrigin)
		rt.refusedWith(t, "GET Origin "+o, req{method: "GET", path: "/stream", hdr: []string{"Origin", o}}, 403, CodeOrigin)
	}
	// Two Origin headers: refused, whichever is checked.
	rt.refusedWith(t, "two origins", req{path: "/json", body: `{}`, hdr: []string{"Origin", "http://127.0.0.1:" + p, "Origin", "http://evil.example", "Content-Type", JSON}}, 403, CodeOrigin)
	// Sec-Fetch-Site without an Origin: a state-changing cross-site or
	// same-site request is refused; navigations (GET) are not.
	for _, site := range []string{"cross-site", "same-site", "bogus"} {
		rt.refusedWith(t, "Sec-Fetch-Site "+site, req{path: "/json", body: `{}`, hdr: []string{"Sec-Fetch-Site", site, "Content-Type", JSON}}, 403, CodeOrigin)
		rt.passes(t, "GET Sec-Fetch-Site "+site, req{method: "GET", path: "/stream", hdr: []string{"Sec-Fetch-Site", site}})
	}
	for _, site := range []string{"same-origin", "none"} {
		rt.passes(t, "Sec-Fetch-Site "+site, req{path: "/json", body: `{}`, hdr: []string{"Sec-Fetch-Site", site, "Content-Type", JSON}})
	}
	// Public documents are readable from any page.
	rt.passes(t, "well-known", req{method: "GET", path: "/.well-known/meta", hdr: []string{"Origin", "http://evil.example"}})
	// No Origin at all: not a browser, or a navigation.
	rt.passes(t, "no origin", req{path: "/json", body: `{}`, hdr: jsonCT})

	any := serveDoor(t, Config{AllowedOrigins: []string{"*"}}, true)
	any.passes(t, "*", req{path: "/json", body: `{}`, hdr: []string{"Origin", "http://evil.example", "Content-Type", JSON}})
}

func TestOriginBehindProxy(t *testing.T) {
	// A proxy ends TLS and passes the Host on: the page's origin is https
	// with the default port; toolgate sees http and a Host without a port.
	rt := serveDoor(t, Config{AllowedHosts: []string{"toolgate.example.com"}}, false)
	rt.passes(t, "https page", req{path: "/json", body: `{}`, host: "toolgate.example.com",
		hdr: []string{"Origin", "https://toolgate.example.com", "Content-Type", JSON}})
	rt.refusedWith(t, "other port", req{path: "/json", body: `{}`, host: "toolgate.example.com",
		hdr: []string{"Origin", "https://toolgate.example.com:8443", "Content-Type", JSON}}, 403, CodeOrigin)
}

func TestContentType(t *testing.T) {
	rt := serveDoor(t, Config{}, true)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8", "application/json;charset=\"utf-8\""} {
		rt.passes(t, "json "+ct, req{path: "/json", body: `{"a":1}`, hdr: []string{"Content-Type", ct}})
	}
	// What a cross-site page can send without a preflight, and other
	// things a JSON endpoint does not take.
	for _, ct := range []string{"text/plain", "text/plain; charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/json; charset=latin1", "application/json; boundary=x",
		"application/jsonx", "application/json, text/plain", "text/json", "application/ld+json", "",
		"application/ json", "*/*"} {
		rt.refusedWith(t, "json route, "+ct, req{path: "/json", body: `{"a":1}`, hdr: []string{"Content-Type", ct}}, 415, CodeContentType)
	}
	// A body without any Content-Type (a fetch of a Blob sends none).
	rt.refusedWith(t, "no content type", req{path: "/json", body: `{"a":1}`}, 415, CodeContentType)
	rt.refusedWith(t, "two content types", req{path: "/json", body: `{"a":1}`, hdr: []string{"Content-Type", "application/json", "Content-Type", "text/plain"}}, 415, CodeContentType)
	// No body: nothing to type.
	rt.passes(t, "empty POST", req{path: "/json"})
	rt.passes(t, "GET", req{method: "GET", path: "/stream"})
	// A route that takes forms.
	rt.passes(t, "form", req{path: "/form", body: "a=1", hdr: []string{"Content-Type", Form}})
	rt.refusedWith(t, "form route, json", req{path: "/form", body: `{}`, hdr: jsonCT}, 415, CodeContentType)
	rt.refusedWith(t, "form route, text", req{path: "/form", body: "a=1", hdr: []string{"Content-Type", "text/plain"}}, 415, CodeContentType)
	rt.refusedWith(t, "form route, multipart", req{path: "/form", body: "--x--", hdr: []string{"Content-Type", "multipart/form-data; boundary=x"}}, 415, CodeContentType)
}

func TestBodyLimit(t *testing.T) {
	rt := serveDoor(t, Config{MaxBodyBytes: 100}, true)
	rt.passes(t, "at the limit", req{path: "/json", body: `"` + strings.Repeat("a", 98) + `"`, hdr: jsonCT})
	if got := rt.got.Load().(string); len(got) != 100 {
		t.Errorf("the handler read %d bytes, want 100", len(got))
	}
	rt.refusedWith(t, "over (Content-Length)", req{path: "/json", body: strings.Repeat("a", 101), hdr: jsonCT}, 413, CodeTooLarge)

	// Chunked: no Content-Length to refuse up front.
	before := rt.ran.Load()
	r, _ := http.NewRequest("POST", rt.url+"/json", io.MultiReader(strings.NewReader(strings.Repeat("a", 60)), strings.NewReader(strings.Repeat("b", 60))))
	r.ContentLength = -1
	r.Header.Set("Content-Type", JSON)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || rt.ran.Load() != before {
		t.Errorf("chunked over the limit: %d, handler ran %d", resp.StatusCode, rt.ran.Load()-before)
	}
}

// TestSlowBody trickles a body one byte every half second over a raw TCP
// connection: the door cuts it off at body_timeout with 408 and closes the
// connection, and no handler ever runs.
func TestSlowBody(t *testing.T) {
	rt := serveDoor(t, Config{BodyTimeout: time.Second}, true)
	for _, path := range []string{"/json", "/form"} {
		conn, err := net.Dial("tcp", "127.0.0.1:"+rt.port)
		if err != nil {
			t.Fatal(err)
		}
		ct := JSON
		if path == "/form" {
			ct = Form
		}
		const size = 10000
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, rt.port, ct, size)
		// The writer trickles until the server closes the connection.
		sent := make(chan int, 1)
		go func() {
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			n := 0
			for range tick.C {
				if n == size {
					break
				}
				if _, err := conn.Write([]byte("a")); err != nil {
					break
				}
				n++
			}
			sent <- n
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !bytes.Contains(b, []byte(CodeTimeout)) || !resp.Close {
			t.Errorf("%s: %d %s (close %v), want 408 %s and the connection closed", path, resp.StatusCode, b, resp.Close, CodeTimeout)
		}
		conn.Close()
		if n := <-sent; n >= size {
			t.Errorf("%s: the whole body was sent", path)
		}
	}
	if rt.ran.Load() != 0 {
		t.Errorf("a handler ran for a body that never arrived")
	}
}

// TestSlowHeaders trickles the request line and headers: the server
// closes the connection at read_header_timeout without answering.
func TestSlowHeaders(t *testing.T) {
	rt := serveDoor(t, Config{ReadHeaderTimeout: time.Second}, true)
	conn, err := net.Dial("tcp", "127.0.0.1:"+rt.port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		close(closed)
	}()
	head := "POST /json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("a", 10000)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			if i >= len(head) {
				t.Fatal("the whole header was sent")
			}
			if rt.ran.Load() != 0 {
				t.Error("a handler ran")
			}
			return
		case <-tick.C:
			_, _ = conn.Write([]byte{head[i]})
		}
	}
}

func TestValidate(t *testing.T) {
	c := Config{AllowedOrigins: []string{"https://ok.example", "*", "null", "ok.example", "https://ok.example/path"},
		AllowedHosts: []string{"ok", "", "a/b"}, BodyTimeout: -1}
	errs := c.Validate()
	if len(errs) != 6 {
		t.Errorf("errors = %q", errs)
	}
}

// TestServeMuxRefusals: a route that does not exist is refused by the door
// first when its Host or Origin is wrong (nothing is learnt about routes).
func TestUnknownRouteBehindDoor(t *testing.T) {
	rt := serveDoor(t, Config{}, true)
	rt.refusedWith(t, "unknown path, evil host", req{method: "GET", path: "/nope", host: "evil.example"}, 403, CodeHost)
}

// BenchmarkDoor measures what the door adds to a JSON POST of 1 KiB
// (Host, Origin, content type, reading the body), against the bare
// handler reading the same body. Numbers belong to bench runs, not tests.
func BenchmarkDoor(b *testing.B) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{"path":"` + strings.Repeat("a", 960) + `"}}}`
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	d := New(Config{}, true, nil)
	for _, origin := range []string{"", "http://127.0.0.1:8470"} {
		for _, name := range []string{"bare", "door"} {
			var handler http.Handler = h
			if name == "door" {
				handler = d.Wrap(d.Route(h))
			}
			b.Run(name+"/origin="+origin, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest("POST", "http://127.0.0.1:8470/mcp", strings.NewReader(body))
					r.Header.Set("Content-Type", JSON)
					if origin != "" {
						r.Header.Set("Origin", origin)
					}
					handler.ServeHTTP(httptest.NewRecorder(), r)
				}
			})
		}
	}
}
