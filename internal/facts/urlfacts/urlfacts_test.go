package urlfacts

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
	"github.com/toolgate/toolgate/internal/facts/factstest"
)

type F = map[string]any

func TestClassify(t *testing.T) {
	c, _ := New(facts.Options{AllowedHosts: []string{"github.com", "api.example.org"}})
	cases := []struct {
		name, url string
		want      F
	}{
		{"https", "https://api.github.com/repos/x", F{"scheme": "https", "host": "api.github.com", "port": 443, "domain": "github.com", "ip": "", "ip_class": "", "userinfo": false, "allowed": true}},
		{"http default port", "http://example.com", F{"port": 80, "domain": "example.com", "allowed": false}},
		{"explicit port", "http://example.com:8080/x", F{"port": 8080}},
		{"uppercase scheme host", "HTTPS://WWW.Example.COM/", F{"scheme": "https", "host": "www.example.com", "domain": "example.com"}},
		{"public suffix domain", "https://a.b.example.co.uk/", F{"domain": "example.co.uk"}},
		{"github.io domain", "https://user.github.io/", F{"domain": "user.github.io"}},
		{"trailing dot", "http://example.com./", F{"host": "example.com", "domain": "example.com"}},
		{"loopback", "http://127.0.0.1/", F{"ip": "127.0.0.1", "ip_class": "loopback", "domain": ""}},
		{"loopback other", "http://127.8.9.10:9000/", F{"ip_class": "loopback", "port": 9000}},
		{"hex dotted", "http://0x7f.1/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"decimal", "http://2130706433/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"octal", "http://0177.0.0.1/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"octal long", "http://017700000001/", F{"ip": "127.0.0.1"}},
		{"hex whole", "http://0x7f000001/", F{"ip": "127.0.0.1"}},
		{"short form", "http://127.1", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"short three parts", "http://10.1.1/", F{"ip": "10.1.0.1", "ip_class": "private"}},
		{"mixed notation metadata", "http://0xa9.254.0251.0xfe/", F{"ip": "169.254.169.254", "ip_class": "metadata"}},
		{"decimal metadata", "http://2852039166/latest/meta-data/", F{"ip": "169.254.169.254", "ip_class": "metadata"}},
		{"trailing dot ip", "http://127.0.0.1./", F{"ip": "127.0.0.1"}},
		// Names the local resolver completes: /etc/hosts has the
		// machine's own name and localhost.localdomain; search domains
		// complete a one-label name (a Kubernetes service).
		{"one-label name", "http://myhost/", F{"ip_class": "private"}},
		{"one-label name trailing dot", "http://MyHost./", F{"host": "myhost", "ip_class": "private"}},
		{"localhost.localdomain", "http://localhost.localdomain/", F{"ip_class": "loopback"}},
		{"localhost6", "http://localhost6:8080/", F{"ip_class": "loopback"}},
		{"localhost two dots", "http://localhost../", F{"ip_class": "loopback"}},
		{"kubernetes service", "http://kubernetes.default.svc/", F{"ip_class": "private"}},
		// Forbidden host code points (WHATWG) after percent-decoding.
		{"percent left in host", "http://127.0.0.1%2509/", F{"parse_error": true}},
		{"space in host", "http://a%2520b.example/", F{"parse_error": true}},
		{"zero", "http://0/", F{"ip": "0.0.0.0", "ip_class": "unspecified"}},
		{"invalid ipv4", "http://1.2.3.256/", F{"parse_error": true}},
		{"too many parts", "http://1.2.3.4.5/", F{"parse_error": true}},
		{"ipv6 loopback", "http://[::1]/", F{"ip": "::1", "ip_class": "loopback"}},
		{"ipv4 mapped", "http://[::ffff:127.0.0.1]/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"ipv4 mapped hex", "http://[::ffff:7f00:1]/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"ipv4 mapped metadata", "http://[::ffff:a9fe:a9fe]/", F{"ip_class": "metadata"}},
		{"nat64 private", "http://[64:ff9b::10.0.0.1]/", F{"ip_class": "private"}},
		{"6to4 loopback", "http://[2002:7f00:1::]/", F{"ip_class": "loopback"}},
		{"ipv6 zone", "http://[fe80::1%25eth0]/", F{"ip": "fe80::1", "ip_class": "link_local"}},
		{"aws ipv6 metadata", "http://[fd00:ec2::254]/latest", F{"ip_class": "metadata"}},
		{"ula private", "http://[fd12:3456::1]/", F{"ip_class": "private"}},
		{"ipv6 public", "http://[2606:4700::1111]/", F{"ip_class": "public"}},
		{"unspecified v6", "http://[::]/", F{"ip_class": "unspecified"}},
		{"private 10", "http://10.0.0.5/", F{"ip_class": "private"}},
		{"private 172", "http://172.20.1.1/", F{"ip_class": "private"}},
		{"not private 172.32", "http://172.32.0.1/", F{"ip_class": "public"}},
		{"private 192.168", "http://192.168.1.1/", F{"ip_class": "private"}},
		{"cgnat", "http://100.64.0.1/", F{"ip_class": "private"}},
		{"link local", "http://169.254.1.1/", F{"ip_class": "link_local"}},
		{"multicast", "http://224.0.0.1/", F{"ip_class": "multicast"}},
		{"broadcast", "http://255.255.255.255/", F{"ip_class": "reserved"}},
		{"public ip", "http://8.8.8.8/", F{"ip_class": "public", "ip": "8.8.8.8"}},
		{"ecs metadata", "http://169.254.170.2/v2/credentials", F{"ip_class": "metadata"}},
		{"alibaba metadata", "http://100.100.100.200/latest/meta-data", F{"ip_class": "metadata"}},
		{"gcp metadata name", "http://metadata.google.internal/computeMetadata/v1/", F{"ip_class": "metadata", "ip": ""}},
		{"gcp metadata short", "http://metadata/computeMetadata/v1/", F{"ip_class": "metadata"}},
		{"localhost", "http://localhost:3000/", F{"ip_class": "loopback", "port": 3000}},
		{"localhost subdomain", "http://app.localhost/", F{"ip_class": "loopback"}},
		{"localhost trailing dot", "http://LOCALHOST./", F{"ip_class": "loopback"}},
		{"nip.io", "http://10.0.0.1.nip.io/", F{"ip_class": "private", "ip": ""}},
		{"sslip dashed", "http://app-169-254-169-254.sslip.io/", F{"ip_class": "metadata"}},
		{"lvh.me", "http://lvh.me:8080/", F{"ip_class": "loopback"}},
		{"internal tld", "https://db.corp.internal/", F{"ip_class": "private"}},
		{"userinfo trick", "http://good.com@evil.com/", F{"host": "evil.com", "userinfo": true, "allowed": false}},
		{"userinfo with password", "https://user:pass@github.com/", F{"userinfo": true, "host": "github.com"}},
		{"double at", "http://a@b@evil.com/", F{"host": "evil.com", "userinfo": true}},
		{"backslash authority", `http:\\evil.com\@github.com/`, F{"host": "evil.com"}},
		// Readers disagree: a browser goes to the host before the
		// backslash, curl, Python and Go to the one after the "@".
		{"backslash after host", `http://evil.com\@github.com/`, F{"host": "", "ambiguous": true, "hosts": []string{"evil.com", "github.com"}, "userinfo": true, "allowed": false}},
		{"backslash at metadata", `http://api.example.com\@169.254.169.254/`, F{"host": "", "ambiguous": true, "ip_class": "metadata", "ip_classes": []string{"metadata"}, "hosts": []string{"api.example.com", "169.254.169.254"}}},
		{"backslash with port", `http://evil.com:80\@github.com:8080/`, F{"ambiguous": true, "hosts": []string{"evil.com", "github.com"}}},
		{"readers agree", `https://user@github.com/x\y?a=b@c`, F{"ambiguous": false, "host": "github.com", "allowed": true}},
		{"at sign in the query", `https://api.github.com/search?q=a@b.com`, F{"ambiguous": false, "host": "api.github.com", "userinfo": false}},
		{"single slash", "http:/evil.com/x", F{"host": "evil.com"}},
		{"no slash", "http:evil.com", F{"host": "evil.com"}},
		{"triple slash", "https:///evil.com", F{"host": "evil.com"}},
		{"tab in scheme", "ht\ttp://evil.com", F{"host": "evil.com", "scheme": "http"}},
		{"leading spaces", "  https://github.com  ", F{"host": "github.com", "allowed": true}},
		{"percent encoded host", "http://127%2e0%2e0%2e1/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"fullwidth host", "http://ｅｘａｍｐｌｅ.com/", F{"host": "example.com"}},
		{"fullwidth digits ip", "http://１２７.０.０.１/", F{"ip": "127.0.0.1", "ip_class": "loopback"}},
		{"ideographic dot", "http://127。0。0。1/", F{"ip": "127.0.0.1"}},
		{"idn", "https://bücher.example/", F{"host": "xn--bcher-kva.example"}},
		{"punycode kept", "https://xn--bcher-kva.example/", F{"host": "xn--bcher-kva.example"}},
		{"allowed subdomain", "https://raw.github.com/x", F{"allowed": true}},
		{"allowed lookalike", "https://github.com.evil.com/", F{"allowed": false, "domain": "evil.com"}},
		{"allowed suffix lookalike", "https://evilgithub.com/", F{"allowed": false}},
		{"schemeless", "example.com/path", F{"scheme": "", "host": "example.com"}},
		{"schemeless host port", "localhost:8080/x", F{"scheme": "", "host": "localhost", "port": 8080, "ip_class": "loopback"}},
		{"schemeless ip port", "169.254.169.254:80/latest", F{"ip_class": "metadata"}},
		{"scheme relative", "//127.0.0.1/", F{"ip_class": "loopback", "scheme": ""}},
		{"ftp", "ftp://files.example.com/x", F{"scheme": "ftp", "port": 21}},
		{"gopher ssrf", "gopher://127.0.0.1:6379/_FLUSHALL", F{"scheme": "gopher", "ip_class": "loopback", "port": 6379}},
		{"file url", "file:///etc/passwd", F{"scheme": "file", "host": ""}},
		{"mailto", "mailto:a@example.com", F{"scheme": "mailto", "host": ""}},
		{"javascript", "javascript:alert(1)", F{"scheme": "javascript", "host": ""}},
		{"data", "data:text/html,<script>", F{"scheme": "data"}},
		{"port out of range", "http://example.com:70000/", F{"parse_error": true}},
		{"bad port", "http://example.com:8o/", F{"parse_error": true}},
		{"empty", "", F{"parse_error": true}},
		{"no host", "http:///", F{"parse_error": true}},
		{"bad ipv6", "http://[::1::2]/", F{"parse_error": true}},
		{"space in host", "http://exa mple.com/", F{"parse_error": true}},
		{"control char", "http://exa\x01mple.com/", F{"parse_error": true}},
		{"trailing control trimmed", "http://example.com/\x01", F{"host": "example.com"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			factstest.Check(t, c.Classify(tc.url), tc.want)
		})
	}
}

func TestLimitsAndMerge(t *testing.T) {
	c, _ := New(facts.Options{MaxInputBytes: 30})
	factstest.Check(t, c.Classify("https://example.com/"+strings.Repeat("a", 40)), F{"parse_error": true})
	d, _ := New(facts.Options{})
	m := facts.Merge(Name, []facts.Facts{d.Classify("https://github.com/"), d.Classify("http://169.254.169.254/")})
	factstest.Check(t, m, F{"ip_class": "metadata", "hosts": []string{"github.com", "169.254.169.254"}, "host": "", "ip_classes": []string{"metadata"}})
	same := facts.Merge(Name, []facts.Facts{d.Classify("https://github.com/a"), d.Classify("https://github.com/b")})
	factstest.Check(t, same, F{"host": "github.com", "scheme": "https"})
	factstest.Check(t, Merge(nil), F{"host": "", "allowed": false})
	if _, err := New(facts.Options{AllowedHosts: []string{" "}}); err == nil {
		t.Error("blank allowed host accepted")
	}
}

func TestIPv4Parser(t *testing.T) {
	for in, want := range map[string]string{
		"0x7f.1": "127.0.0.1", "2130706433": "127.0.0.1", "0177.1": "127.0.0.1", "1.2.3": "1.2.0.3",
		"0x": "0.0.0.0", "4294967295": "255.255.255.255", "0xffffffff": "255.255.255.255", "1.2.3.4.": "1.2.3.4",
	} {
		a, err := parseIPv4(in)
		if err != nil || a.String() != want {
			t.Errorf("parseIPv4(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, in := range []string{"4294967296", "1.256.0.0", "1.2.3.4.5", "08.1", "0x1g", "1..2"} {
		if a, err := parseIPv4(in); err == nil {
			t.Errorf("parseIPv4(%q) = %v, want error", in, a)
		}
	}
}

// FuzzClassify checks properties of the facts of any text:
//   - allowed only for an analysed URL whose every reading is an allowed
//     host;
//   - Go's net/url is one of the readers: the host it reaches, when it is
//     a host at all, is among the facts' hosts;
//   - ambiguous exactly when hosts has more than one reading, and then
//     host is empty.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"http://0x7f.1/", "http://[::ffff:127.0.0.1]/", "http://good.com@evil.com/", "http:\\\\x\\y", "localhost:1/", "http://１２７.１",
		`http://a.example\@169.254.169.254/`, "http://a.com:80\\@b.com/"} {
		f.Add(s)
	}
	c, _ := New(facts.Options{AllowedHosts: []string{"example.com"}})
	f.Fuzz(func(t *testing.T, s string) {
		out := c.Classify(s)
		if err := factstest.Types(out); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if out["parse_error"] == true {
			if out["allowed"] == true || out["ambiguous"] != true {
				t.Fatalf("%q: parse_error but not fail-safe: %v", s, out)
			}
			return
		}
		hosts := out["hosts"].([]string)
		if out["allowed"] == true {
			for _, h := range hosts {
				if h != "example.com" && !strings.HasSuffix(h, ".example.com") {
					t.Fatalf("%q: allowed with host %q", s, h)
				}
			}
		}
		if (len(hosts) > 1) != (out["ambiguous"] == true) || (out["ambiguous"] == true && out["host"] != "") {
			t.Fatalf("%q: ambiguous %v, host %q, hosts %v", s, out["ambiguous"], out["host"], hosts)
		}
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" || strings.ContainsAny(u.Hostname(), "%\\") {
			return
		}
		r, err := c.readHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
		if err != nil {
			return
		}
		if !slices.Contains(hosts, r.host) {
			t.Fatalf("%q: net/url reaches %q, facts say hosts %v", s, r.host, hosts)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	c, _ := New(facts.Options{})
	b.ReportAllocs()
	for b.Loop() {
		c.Classify("https://api.github.com/repos/toolgate/toolgate/issues?state=open&per_page=50")
	}
}

func BenchmarkIPLiteral(b *testing.B) {
	c, _ := New(facts.Options{})
	b.ReportAllocs()
	for b.Loop() {
		c.Classify("http://0xa9.254.0251.0xfe/latest/meta-data/")
	}
}
