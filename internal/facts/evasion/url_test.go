package evasion

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
)

// A reader is a URL parser an HTTP tool may use; it returns the host each
// URL reaches ("" when it rejects the URL or finds no host).
type reader struct {
	name string
	read func(t *testing.T, urls []string) []string
}

func goReader(t *testing.T, urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		if p, err := url.Parse(u); err == nil {
			out[i] = p.Hostname()
		}
	}
	return out
}

// scriptReader runs a script that reads JSON-encoded URLs, one a line,
// and prints a JSON host (or null), one a line.
func scriptReader(prog string, args ...string) func(t *testing.T, urls []string) []string {
	return func(t *testing.T, urls []string) []string {
		var in bytes.Buffer
		for _, u := range urls {
			b, _ := json.Marshal(u)
			in.Write(append(b, '\n'))
		}
		cmd := exec.Command(prog, args...)
		cmd.Stdin = &in
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", prog, err)
		}
		out := make([]string, len(urls))
		sc := bufio.NewScanner(bytes.NewReader(b))
		for i := 0; i < len(urls) && sc.Scan(); i++ {
			var h *string
			if err := json.Unmarshal(sc.Bytes(), &h); err == nil && h != nil {
				out[i] = *h
			}
		}
		return out
	}
}

const nodeReader = `
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(Boolean);
for (const l of lines) { let h = null; try { h = new URL(JSON.parse(l)).hostname } catch (e) {} console.log(JSON.stringify(h)) }`

const pythonReader = `
import sys, json, urllib.parse
for l in sys.stdin:
    h = None
    try: h = urllib.parse.urlsplit(json.loads(l)).hostname
    except Exception: pass
    print(json.dumps(h))`

var curlMarker = regexp.MustCompile(`@@(\d+)@@`)

// curlReader fetches every URL with one curl, all connections sent to a
// local server (--connect-to) that answers with the Host header curl sent.
// curl reads https URLs with the same parser; they are fetched as http.
func curlReader(t *testing.T, urls []string) []string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "HOST=%s\n", r.Host)
	}))
	defer srv.Close()
	port := strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
	args := []string{"-s", "--path-as-is", "--max-time", "5", "--connect-to", "::127.0.0.1:" + port, "-w", "@@%{urlnum}@@\n"}
	for _, u := range urls {
		if t := strings.TrimLeft(u, " \t"); len(t) >= 6 && strings.EqualFold(t[:6], "https:") {
			u = u[:len(u)-len(t)] + "http:" + t[6:]
		}
		args = append(args, "--url", u)
	}
	b, _ := exec.Command("curl", args...).Output()
	out := make([]string, len(urls))
	host := ""
	for _, l := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(l, "HOST="); ok {
			host = h
			continue
		}
		if m := curlMarker.FindStringSubmatch(l); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n < len(out) {
				out[n] = host
			}
			host = ""
		}
	}
	return out
}

// readers lists the readers that can run here.
func readers(t *testing.T) []reader {
	rs := []reader{{"go net/url", goReader}}
	if _, err := exec.LookPath("node"); err == nil {
		rs = append(rs, reader{"node URL", scriptReader("node", "-e", nodeReader)})
	} else {
		t.Log("node is not installed: no WHATWG reader")
	}
	if _, err := exec.LookPath("python3"); err == nil {
		rs = append(rs, reader{"python urllib", scriptReader("python3", "-c", pythonReader)})
	} else {
		t.Log("python3 is not installed")
	}
	if _, err := exec.LookPath("curl"); err == nil {
		rs = append(rs, reader{"curl", curlReader})
	} else {
		t.Log("curl is not installed")
	}
	return rs
}

var internalClasses = []string{"metadata", "loopback", "link_local", "private", "unspecified", "reserved", "multicast"}

// TestURLsAgainstReaders reads every URL of testdata/url.txt with Go,
// Node (WHATWG), Python and curl, and checks: every host a reader reaches
// is among the facts' hosts (unless the URL is a parse error); a URL that
// any reader takes to an internal address is not allowed by the example
// pack; no attack is allowed; and at most 3 % of the benign URLs are not.
func TestURLsAgainstReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node, python and curl")
	}
	cases := readSuite(t, "url.txt")
	urls := make([]string, len(cases))
	for i, c := range cases {
		urls[i] = c.value
	}
	cl, err := facts.New("url", facts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// hostOf normalises a host a reader returned, the way a client
	// would before connecting; ok is false for text that is no host
	// a resolver would take.
	hostOf := func(h string) (facts.Facts, bool) {
		if h == "" || strings.ContainsAny(h, "\\/@?#% \t\n") {
			return nil, false
		}
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			h = "[" + h + "]"
		}
		f := cl.Classify("http://" + h + "/")
		return f, f["parse_error"] != true
	}
	p := newPack(t)
	got := map[string][]string{}
	for _, r := range readers(t) {
		got[r.name] = r.read(t, urls)
	}
	benign, denied := 0, 0
	for i, c := range cases {
		f := cl.Classify(c.value)
		hosts, _ := f["hosts"].([]string)
		internal := false
		for name, hs := range got {
			hf, ok := hostOf(hs[i])
			if !ok {
				continue
			}
			h := hf["host"].(string)
			if f["parse_error"] != true && !slices.Contains(hosts, h) {
				t.Errorf("%v: %s reaches %s, facts say hosts %v\nfacts: %v", c, name, h, hosts, f)
			}
			if slices.Contains(internalClasses, hf["ip_class"].(string)) {
				internal = true
			}
		}
		allowed, why := p.allows("web/fetch", map[string]any{"url": c.value})
		switch {
		case c.benign && internal:
			t.Errorf("%v: marked benign, but a reader reaches an internal address", c)
		case c.benign:
			benign++
			if !allowed {
				denied++
				t.Logf("false deny: %v\n%s\nfacts: %v", c, why, f)
			}
		case allowed:
			t.Errorf("%v: the pack allows an attack (internal reading: %v)\nfacts: %v", c, internal, f)
		}
	}
	falseDenies(t, denied, benign)
}
