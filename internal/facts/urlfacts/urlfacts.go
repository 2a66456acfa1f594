// Package urlfacts classifies URLs: scheme, host, port, registrable domain,
// and the class of the address an IP-literal host reaches (loopback,
// private, link-local, cloud metadata, …), so that policies can stop
// server-side request forgery however the address is written.
//
// Hosts are read the way browsers and curl read them, not only the way
// net/url does: backslashes count as slashes in http(s) URLs, numeric hosts
// in decimal, octal, hex and short forms are IPv4 addresses, IPv4-mapped
// IPv6 addresses are their IPv4 address, and internationalised names go
// through IDNA.
package urlfacts

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/toolgate/toolgate/internal/facts"
)

// Name is the key of these facts under context.facts.
const Name = "url"

func init() {
	facts.Register(Name, facts.Kind{
		New:        func(o facts.Options) (facts.Classifier, error) { return New(o) },
		Merge:      Merge,
		Unanalysed: unanalysed,
	})
}

// IP classes, from most to least dangerous to reach from a server; Merge
// keeps the most dangerous of several URLs.
const (
	ClassMetadata    = "metadata"
	ClassLoopback    = "loopback"
	ClassLinkLocal   = "link_local"
	ClassPrivate     = "private"
	ClassUnspecified = "unspecified"
	ClassReserved    = "reserved"
	ClassMulticast   = "multicast"
	ClassPublic      = "public"
)

var classRank = map[string]int{
	ClassMetadata: 8, ClassLoopback: 7, ClassLinkLocal: 6, ClassPrivate: 5, ClassUnspecified: 4,
	ClassReserved: 3, ClassMulticast: 2, "": 1, ClassPublic: 0,
}

// idnaProfile follows the URL standard's domain-to-ASCII: UTS #46 mapping,
// non-transitional, no STD3 rules (underscores are allowed), no hyphen
// checks.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
	idna.CheckJoiners(true),
	idna.BidiRule(),
	idna.VerifyDNSLength(false),
)

var defaultPorts = map[string]int64{
	"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ftps": 990, "sftp": 22, "ssh": 22,
	"git": 9418, "gopher": 70, "ldap": 389, "ldaps": 636, "dict": 2628, "telnet": 23, "tftp": 69,
	"smb": 445, "redis": 6379, "rediss": 6380, "mongodb": 27017, "postgres": 5432, "postgresql": 5432,
	"mysql": 3306, "amqp": 5672, "amqps": 5671, "mqtt": 1883, "nats": 4222, "imap": 143, "imaps": 993,
	"pop3": 110, "smtp": 25, "smtps": 465, "rtsp": 554, "irc": 6667, "memcached": 11211,
}

// special are the URL standard's special schemes, whose authority and
// path browsers read leniently.
var special = map[string]bool{"http": true, "https": true, "ws": true, "wss": true, "ftp": true, "file": true}

var tabNewline = strings.NewReplacer("\t", "", "\n", "", "\r", "")

// Classifier is the URL classifier.
type Classifier struct {
	opts    facts.Options
	allowed []string
}

// New builds a URL classifier.
func New(opts facts.Options) (*Classifier, error) {
	c := &Classifier{opts: opts.WithDefaults()}
	for _, h := range opts.AllowedHosts {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if h == "" {
			return nil, errors.New("urlfacts: empty allowed host")
		}
		if a, err := idnaProfile.ToASCII(h); err == nil {
			h = a
		}
		c.allowed = append(c.allowed, h)
	}
	return c, nil
}

// Name implements facts.Classifier.
func (c *Classifier) Name() string { return Name }

func zero() facts.Facts {
	return facts.Facts{
		"scheme": "", "host": "", "port": int64(0), "domain": "", "ip": "", "ip_class": "",
		"userinfo": false, "allowed": false, "ambiguous": false,
		"hosts": []string{}, "domains": []string{}, "ip_classes": []string{},
		"parse_error": false,
	}
}

// unanalysed is the answer for a URL that was not analysed: nothing says
// which host a client would reach.
func unanalysed() facts.Facts {
	f := zero()
	f["ambiguous"] = true
	return f
}

// Classify implements facts.Classifier.
func (c *Classifier) Classify(raw string) facts.Facts {
	return facts.Run(c.opts, raw, unanalysed, func(*facts.Budget) facts.Facts {
		f, err := c.classify(raw)
		if err != nil {
			// Fields read before the error are dropped: a policy must not
			// act on half of a URL that no client would read the same way.
			return facts.Fail(unanalysed(), err.Error())
		}
		return f
	})
}

// schemeOf returns the scheme of s and the text after its colon, if s
// starts with one.
func schemeOf(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.ToLower(s[:i]), s[i+1:], true
		default:
			return "", s, false
		}
	}
	return "", s, false
}

func (c *Classifier) classify(raw string) (facts.Facts, error) {
	f := zero()
	// Browsers drop surrounding spaces and control characters and every
	// tab and newline; so "java\tscript:" is "javascript:".
	s := strings.TrimFunc(raw, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\n\r") {
		s = tabNewline.Replace(s)
	}
	if s == "" {
		return f, errors.New("empty URL")
	}
	s0 := s
	scheme, rest, ok := schemeOf(s)
	if ok && !strings.HasPrefix(rest, "/") && rest != "" && rest[0] >= '0' && rest[0] <= '9' && defaultPorts[scheme] == 0 && !special[scheme] {
		// "localhost:8080/x" is a host and port to curl, not a scheme.
		ok = false
	}
	if !ok {
		// Without a scheme, curl and most HTTP tools assume http.
		scheme = ""
		if strings.HasPrefix(s, "//") {
			s = "http:" + s
		} else {
			s = "http://" + s
		}
		_, rest, _ = schemeOf(s)
	}
	analysed := scheme
	if analysed == "" {
		analysed = "http"
	}
	if special[analysed] {
		// In special URLs a backslash is a slash, and any run of slashes
		// after the scheme starts the authority: "http:\\evil.com",
		// "http:/evil.com" and "http:evil.com" all reach evil.com.
		end := strings.IndexAny(rest, "?#")
		if end < 0 {
			end = len(rest)
		}
		rest = strings.ReplaceAll(rest[:end], `\`, "/") + rest[end:]
		if analysed != "file" {
			rest = "//" + strings.TrimLeft(rest, "/")
		}
		s = analysed + ":" + rest
	}
	f["scheme"] = scheme
	u, err := url.Parse(s)
	if err != nil && strings.Contains(s, "%") {
		// Browsers percent-decode the host ("127%2e0%2e0%2e1"), which
		// net/url refuses; decode the authority and try again.
		if i := strings.Index(s, "//"); i >= 0 {
			auth := s[i+2:]
			end := strings.IndexAny(auth, "/?#")
			if end < 0 {
				end = len(auth)
			}
			if dec, derr := url.PathUnescape(auth[:end]); derr == nil && !strings.ContainsAny(dec, "%/?#\\\x00") {
				u, err = url.Parse(s[:i+2] + dec + auth[end:])
			}
		}
	}
	if err != nil {
		return f, fmt.Errorf("url: %v", unwrapURLError(err))
	}
	f["userinfo"] = u.User != nil
	if u.Opaque != "" || (u.Host == "" && !strings.HasPrefix(rest, "//")) {
		// mailto:, data:, javascript: … have no host to reach.
		return f, nil
	}
	host := u.Hostname()
	port := int64(0)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return f, fmt.Errorf("port %q out of range", p)
		}
		port = int64(n)
	} else {
		port = defaultPorts[analysed]
	}
	f["port"] = port
	if host == "" {
		if analysed == "file" {
			return f, nil
		}
		return f, errors.New("URL has no host")
	}

	w, err := c.readHost(host, strings.HasPrefix(u.Host, "["))
	if err != nil {
		return f, err
	}
	readings := []reading{w}
	// The same text as RFC 3986 parsers and curl read it: where they
	// reach another host ("http://a.example\@169.254.169.254/" is
	// a.example to a browser and 169.254.169.254 to curl), every reading
	// counts.
	if gh, gu, bracketed, ok := genericAuthority(s0); ok {
		if gu {
			f["userinfo"] = true
		}
		if gh != "" && gh != host {
			g, err := c.readHost(gh, bracketed)
			if err != nil {
				g = reading{host: strings.ToLower(gh)}
			}
			if g.host != w.host {
				readings = append(readings, g)
			}
		}
	}
	c.put(f, readings)
	return f, nil
}

// forbiddenInHost reports the WHATWG URL standard's forbidden domain code
// points.
func forbiddenInHost(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune("#%/:<>?@[\\]^|", r)
}

// reading is one way of reading a URL's host.
type reading struct {
	host, ip, class, domain string
	allowed                 bool
}

// readHost normalises a host as a client would before connecting: an IP
// literal in any notation, or a name through IDNA.
func (c *Classifier) readHost(host string, bracketed bool) (reading, error) {
	var ip netip.Addr
	if bracketed {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return reading{}, fmt.Errorf("invalid IPv6 address %q", host)
		}
		ip = a.WithZone("")
	} else {
		h, err := idnaProfile.ToASCII(host)
		if err != nil {
			return reading{}, fmt.Errorf("host %q: %v", host, err)
		}
		host = strings.ToLower(h)
		if host == "" || host == "." {
			return reading{}, errors.New("URL has no host")
		}
		if i := strings.IndexFunc(host, forbiddenInHost); i >= 0 {
			// The WHATWG parser fails on these; what a resolver makes
			// of "127.0.0.1%09" or "a b" is its own business.
			return reading{}, fmt.Errorf("host %q: character %q is not allowed in a host", host, host[i])
		}
		if endsInNumber(host) {
			a, err := parseIPv4(host)
			if err != nil {
				return reading{}, fmt.Errorf("host %q: %v", host, err)
			}
			ip = a
		}
		host = strings.TrimSuffix(host, ".")
	}
	var r reading
	if ip.IsValid() {
		if ip.Is4In6() {
			ip = ip.Unmap()
		}
		r.host, r.ip, r.class = ip.String(), ip.String(), ipClass(ip)
	} else {
		r.host, r.class = host, hostClass(host)
		if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
			r.domain = d
		}
	}
	for _, a := range c.allowed {
		if r.host == a || strings.HasSuffix(r.host, "."+a) {
			r.allowed = true
		}
	}
	return r, nil
}

// put sets the host facts from the readings of a URL. With one reading
// they are its host, address, class and domain; with several (readers
// disagree), host, ip and domain are "" so that no policy matches one
// host while a client connects to another, ip_class is the most dangerous
// class, the sets hold every reading, and allowed needs every reading.
func (c *Classifier) put(f facts.Facts, rs []reading) {
	var hosts, domains, classes []string
	worst, rank := "", -1
	allowed := true
	for _, r := range rs {
		hosts = append(hosts, r.host)
		if r.domain != "" {
			domains = append(domains, r.domain)
		}
		if r.class != "" {
			classes = append(classes, r.class)
		}
		if classRank[r.class] > rank {
			worst, rank = r.class, classRank[r.class]
		}
		allowed = allowed && r.allowed
	}
	f["hosts"], f["domains"], f["ip_classes"] = facts.SortedSet(hosts), facts.SortedSet(domains), facts.SortedSet(classes)
	f["ip_class"], f["allowed"] = worst, allowed
	if len(rs) == 1 {
		f["host"], f["ip"], f["domain"] = rs[0].host, rs[0].ip, rs[0].domain
		return
	}
	f["ambiguous"] = true
}

// genericAuthority reads the host of s the way RFC 3986 parsers (Python's
// urllib, Go's net/url) and curl do: a backslash is an ordinary character,
// the authority starts after the slashes that follow the scheme (curl
// takes one to three) and ends at the first "/", "?" or "#", the user
// information ends at its last "@", and the host is percent-decoded
// (curl). ok is false when there is no authority.
func genericAuthority(s string) (host string, userinfo, bracketed, ok bool) {
	scheme, rest, has := schemeOf(s)
	if has && !strings.HasPrefix(rest, "/") && rest != "" && rest[0] >= '0' && rest[0] <= '9' && defaultPorts[scheme] == 0 && !special[scheme] {
		has = false
	}
	if !has {
		rest = s
		if !strings.HasPrefix(s, "//") {
			rest = "//" + s
		}
	}
	if !strings.HasPrefix(rest, "/") {
		return "", false, false, false
	}
	auth := strings.TrimLeft(rest, "/")
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		userinfo, auth = true, auth[i+1:]
	}
	if strings.HasPrefix(auth, "[") {
		if j := strings.IndexByte(auth, ']'); j > 0 {
			return auth[1:j], userinfo, true, true
		}
		return "", userinfo, false, false
	}
	if i := strings.LastIndexByte(auth, ':'); i >= 0 {
		auth = auth[:i]
	}
	if dec, err := url.PathUnescape(auth); err == nil {
		auth = dec
	}
	return auth, userinfo, false, true
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var (
	metadataIPs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OCI, DigitalOcean, …
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
		netip.MustParseAddr("169.254.170.23"),  // AWS EKS pod identity
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
		netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS pod identity over IPv6
	}
	privatePrefixes = []netip.Prefix{
		mustPrefix("10.0.0.0/8"), mustPrefix("172.16.0.0/12"), mustPrefix("192.168.0.0/16"),
		mustPrefix("100.64.0.0/10"), mustPrefix("198.18.0.0/15"), mustPrefix("fc00::/7"),
	}
	reservedPrefixes = []netip.Prefix{
		mustPrefix("0.0.0.0/8"), mustPrefix("192.0.0.0/24"), mustPrefix("192.0.2.0/24"),
		mustPrefix("198.51.100.0/24"), mustPrefix("203.0.113.0/24"), mustPrefix("240.0.0.0/4"),
		mustPrefix("2001:db8::/32"), mustPrefix("100::/64"), mustPrefix("::/96"),
	}
	nat64      = mustPrefix("64:ff9b::/96")
	nat64Local = mustPrefix("64:ff9b:1::/48")
	sixToFour  = mustPrefix("2002::/16")
	compatV4   = mustPrefix("::/96")
)

// ipClass classifies an address. IPv6 forms that carry an IPv4 address
// (NAT64, 6to4, the deprecated IPv4-compatible form) take the class of that
// address when it is not public, since a gateway may deliver them there.
func ipClass(ip netip.Addr) string {
	for _, m := range metadataIPs {
		if ip == m {
			return ClassMetadata
		}
	}
	switch {
	case ip.IsUnspecified():
		// 0.0.0.0 and :: reach the local host on Linux.
		return ClassUnspecified
	case ip.IsLoopback():
		return ClassLoopback
	case ip.IsLinkLocalUnicast():
		return ClassLinkLocal
	case ip.IsMulticast():
		return ClassMulticast
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return ClassReserved
	}
	for _, p := range privatePrefixes {
		if p.Contains(ip) {
			return ClassPrivate
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(ip) || nat64Local.Contains(ip) || compatV4.Contains(ip):
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixToFour.Contains(ip):
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if v4.IsValid() {
			if c := ipClass(v4); c != ClassPublic {
				return c
			}
		}
	}
	for _, p := range reservedPrefixes {
		if p.Contains(ip) {
			return ClassReserved
		}
	}
	return ClassPublic
}

// hostClass classifies the names whose address is known without asking
// DNS: localhost and its look-alike public names, cloud metadata names,
// private-use top-level domains, names of one label, and wildcard-DNS
// services that echo an IP written in the name (10.0.0.1.nip.io). Any
// other name gives "": DNS may point it anywhere, which is for the
// network layer to check.
func hostClass(host string) string {
	// "localhost.." is localhost to resolvers that drop empty labels.
	host = strings.TrimRight(host, ".")
	switch host {
	case "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
		"metadata.azure.internal", "metadata.tencentyun.com", "metadata.platformequinix.com":
		return ClassMetadata
	case "localhost", "localtest.me", "lvh.me", "vcap.me", "lacolhost.com", "localho.st", "ip6-localhost", "ip6-loopback",
		"localhost.localdomain", "localhost4", "localhost4.localdomain4", "localhost6", "localhost6.localdomain6":
		return ClassLoopback
	}
	for _, s := range []string{".localhost", ".localtest.me", ".lvh.me", ".vcap.me", ".lacolhost.com", ".localho.st"} {
		if strings.HasSuffix(host, s) {
			return ClassLoopback
		}
	}
	for _, s := range []string{".nip.io", ".sslip.io", ".xip.io", ".traefik.me", ".nip.direct"} {
		if name, ok := strings.CutSuffix(host, s); ok {
			if ip, ok := echoedIP(name); ok {
				return ipClass(ip)
			}
		}
	}
	for _, s := range []string{".internal", ".local", ".lan", ".home.arpa", ".intranet", ".corp", ".private", ".home", ".svc"} {
		if strings.HasSuffix(host, s) {
			return ClassPrivate
		}
	}
	if !strings.Contains(host, ".") {
		// A name of one label is no public host: the local resolver
		// completes it from /etc/hosts (the machine's own name is
		// 127.0.0.1 there) or its search domains (a Kubernetes service).
		return ClassPrivate
	}
	return ""
}

// echoedIP reads the address a wildcard-DNS name embeds: dotted
// (app.10.0.0.1), dashed (app-10-0-0-1) or hexadecimal (0a000001).
func echoedIP(name string) (netip.Addr, bool) {
	labels := strings.Split(name, ".")
	if len(labels) >= 4 {
		if a, err := netip.ParseAddr(strings.Join(labels[len(labels)-4:], ".")); err == nil {
			return a, true
		}
	}
	last := labels[len(labels)-1]
	dashed := strings.Split(last, "-")
	if len(dashed) >= 4 {
		if a, err := netip.ParseAddr(strings.Join(dashed[len(dashed)-4:], ".")); err == nil {
			return a, true
		}
		if a, err := netip.ParseAddr(strings.Join(dashed, ":")); err == nil {
			return a, true
		}
	}
	if h := dashed[len(dashed)-1]; len(h) == 8 {
		if n, err := strconv.ParseUint(h, 16, 32); err == nil {
			return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
		}
	}
	return netip.Addr{}, false
}

var mergeRules = facts.Rules{
	"scheme": facts.Same, "host": facts.Same, "domain": facts.Same, "ip": facts.Same,
	"userinfo": facts.Any, "ambiguous": facts.Any, "allowed": facts.All, "hosts": facts.Union, "domains": facts.Union,
	"ip_classes": facts.Union, "parse_error": facts.Any,
}

// Merge combines the facts of several URL arguments of one call. Strings
// that differ become ""; ip_class keeps the most dangerous class; the sets
// hosts, domains and ip_classes hold every value, and are what a policy on
// a multi-URL tool should test.
func Merge(fs []facts.Facts) facts.Facts {
	out := facts.MergeWith(mergeRules, zero, fs)
	if len(fs) > 1 {
		worst, rank := "", -1
		for _, f := range fs {
			c, _ := f["ip_class"].(string)
			if classRank[c] > rank {
				worst, rank = c, classRank[c]
			}
		}
		out["ip_class"] = worst
	}
	return out
}
