package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestServeFrontDoor sends what a web page can make a browser send — a
// request with a rebound Host, a cross-site Origin (another port of this
// machine too), a "simple" content type — and a body trickled one byte
// every half second, to every kind of route `toolgate serve` has: each is
// refused before any handler sees it, with the one error body.
func TestServeFrontDoor(t *testing.T) {
	bin := testutil.Toolgate(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "toolgate.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: data\nhttp:\n  body_timeout: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := startServe(t, cmd)
	u, _ := url.Parse(base)
	own := "http://" + u.Host
	_, port, _ := net.SplitHostPort(u.Host)

	type route struct {
		method, path, body, ct string
	}
	eval := `{"subject":{"type":"agent","id":"a"},"action":{"name":"fs/read_file"},"resource":{"type":"server","id":"fs"}}`
	posts := []route{
		{"POST", "/access/v1/evaluation", eval, "application/json"},
		{"POST", "/access/v1/evaluations", eval, "application/json"},
		{"POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "application/json"},
		{"POST", "/mcp/fs", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "application/json"},
		{"POST", "/message?sessionId=x", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "application/json"},
		{"POST", "/v1/tasks", `{"purpose":"p"}`, "application/json"},
		{"POST", "/v1/approvals/apv_x/approve", `{}`, "application/json"},
		{"POST", "/v1/token", "grant_type=x", "application/x-www-form-urlencoded"},
		{"POST", "/v1/approval-links/x", "decision=approve", "application/x-www-form-urlencoded"},
	}
	gets := []route{
		{"GET", "/mcp", "", ""}, {"GET", "/sse", "", ""}, {"GET", "/v1/approvals", "", ""}, {"GET", "/v1/tasks", "", ""},
		{"GET", "/metrics", "", ""}, {"GET", "/healthz", "", ""}, {"GET", "/readyz", "", ""},
		{"GET", "/.well-known/authzen-configuration", "", ""}, {"GET", "/.well-known/jwks.json", "", ""},
		{"GET", "/nowhere", "", ""},
	}
	send := func(r route, host string, hdr ...string) (int, string) {
		t.Helper()
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		req, err := http.NewRequest(r.method, base+r.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if r.ct != "" {
			req.Header.Set("Content-Type", r.ct)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	refused := func(what string, status int, code string, got int, body string) {
		t.Helper()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if got != status || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != code {
			t.Errorf("%s: %d %s, want %d %s", what, got, body, status, code)
		}
	}

	for _, r := range append(append([]route{}, posts...), gets...) {
		name := r.method + " " + r.path
		// DNS rebinding: a name the attacker controls, now pointing here.
		for _, host := range []string{"evil.example:" + port, "127.0.0.1.nip.io:" + port, "localhost.evil.example"} {
			got, body := send(r, host)
			refused(name+" Host "+host, 403, "request.host_refused", got, body)
		}
		if strings.HasPrefix(r.path, "/.well-known/") {
			continue // public documents: any page may read them
		}
		// Cross-site pages, including one on another port of this host.
		for _, origin := range []string{"http://evil.example", "http://localhost:3000", "http://127.0.0.1:1", "null"} {
			got, body := send(r, "", "Origin", origin)
			refused(name+" Origin "+origin, 403, "request.origin_refused", got, body)
		}
	}
	// The gateway's own origin gets through the door (what happens next is
	// the route's business: authentication, validation).
	for _, r := range posts {
		if got, body := send(r, "", "Origin", own); got == 403 && strings.Contains(body, "origin") {
			t.Errorf("%s from its own origin: %d %s", r.path, got, body)
		}
	}
	// Bodies a cross-site page can send without a preflight, and worse.
	for _, r := range posts {
		for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", ""} {
			if ct == r.ct {
				continue
			}
			rr := r
			rr.ct = ct
			got, body := send(rr, "")
			refused(fmt.Sprintf("%s %s as %q", r.method, r.path, ct), 415, "request.content_type", got, body)
		}
	}

	// A body trickled one byte every half second is cut off at
	// http.body_timeout, on every route that takes one.
	for _, r := range posts {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n", r.method, r.path, u.Host, r.ct)
		stop := make(chan struct{})
		go func() {
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", r.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		refused(r.path+" trickled", 408, "request.timeout", resp.StatusCode, string(b))
		close(stop)
		conn.Close()
	}
}

// TestDebugListenerBehindDoor: the profiling listener (--debug-listen) on
// loopback refuses a rebound Host too: profiles and the command line are
// not for web pages.
func TestDebugListenerBehindDoor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := serveDebug(ctx, addr); err != nil {
		t.Fatal(err)
	}
	get := func(host string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/debug/pprof/cmdline", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(addr); got != 200 {
		t.Fatalf("own host: %d", got)
	}
	if got := get("evil.example"); got != 403 {
		t.Fatalf("rebound host: %d", got)
	}
}
