package history

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/idna"
)

// A typed value (an e-mail address, a URL, a host name, an IBAN, a phone
// number, a file path) built from the fuzzer's bytes, the forms text
// writes it in, and the forms an agent passes it in as an argument.
type typedValue struct {
	kind  string
	text  []string // how e-mails, pages and notes write it
	args  []string // how an agent passes it on
	other string   // a different value of the same kind (not the value)
}

// keep returns the bytes of s that ok accepts, at most n of them.
func keep(s string, n int, ok func(byte) bool) string {
	var b []byte
	for i := 0; i < len(s) && len(b) < n; i++ {
		if ok(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func isLowerAlnum(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'z') }

// upperASCII upper-cases the ASCII letters of s (not the others: IDNA maps
// them, and some have no one-letter upper case).
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// fuzzHost makes a host name: labels of a-z, 0-9 and '-' from a, a
// top-level label of letters from b; and, when a holds letters beyond
// ASCII, the same name with an internationalised first label (text) and
// its punycode (ascii).
func fuzzHost(a, b string) (ascii, text string) {
	var labels []string
	for _, l := range strings.Split(strings.ToLower(a), ".") {
		l = strings.Trim(keep(l, 20, func(c byte) bool { return isLowerAlnum(c) || c == '-' }), "-")
		if l != "" && len(labels) < 3 {
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		labels = []string{"evil"}
	}
	tld := keep(strings.ToLower(b), 8, func(c byte) bool { return c >= 'a' && c <= 'z' })
	if len(tld) < 2 {
		tld = "example"
	}
	ascii = strings.Join(labels, ".") + "." + tld
	text = ascii
	var u []rune
	for _, r := range a {
		if r >= 0x80 && unicode.IsLetter(r) && len(u) < 12 {
			u = append(u, unicode.ToLower(r))
		}
	}
	if len(u) > 0 {
		name := string(u) + "x." + ascii
		if p, err := idna.Lookup.ToASCII(name); err == nil && p != name && (&extractor{}).isDomain(p) {
			ascii, text = strings.ToLower(p), name
		}
	}
	return ascii, text
}

// fuzzTyped builds a typed value of kind sel from the fuzzer's strings.
func fuzzTyped(sel uint8, a, b, c string) typedValue {
	switch sel % 6 {
	case 0: // e-mail address
		user := strings.Trim(keep(strings.ToLower(a), 24, func(c byte) bool { return isLowerAlnum(c) || strings.IndexByte("._+-", c) >= 0 }), ".")
		if user == "" {
			user = "mallory"
		}
		host, uhost := fuzzHost(b, c)
		v := user + "@" + host
		u := user + "@" + uhost
		return typedValue{kind: "e-mail", other: user + "x@" + host, args: []string{v, upperASCII(v), "mailto:" + v},
			text: []string{v, upperASCII(u), "mailto:" + u, "MAILTO:" + v, "<mailto:" + v + ">", "mailto:" + v + "?subject=Invoice%20due",
				"Mallory <" + u + ">", "(" + v + ")", u + ".", "'" + v + "',", u + ":"}}
	case 1: // URL
		host, uhost := fuzzHost(b, c)
		p := keep(a, 40, func(c byte) bool { return isAlnum(c) || strings.IndexByte("-_/=&~%.?", c) >= 0 })
		p = strings.TrimRight(strings.TrimLeft(p, "/"), "./?")
		if p == "" {
			p = "collect"
		}
		v := host + "/" + p
		return typedValue{kind: "URL", other: "x" + host + "/" + p, args: []string{"https://" + v, "http://" + v, v, "https://" + upperASCII(host) + "/" + p + "/"},
			text: []string{"https://" + v, "http://" + v, "HTTPS://" + upperASCII(uhost) + "/" + p, v, uhost + "/" + p, "https://" + host + "./" + p,
				"https://" + v + "/", "<https://" + v + ">", "https://user:secret@" + v, "(see " + uhost + "/" + p + ")", "https://" + v + ".", "https://" + v + "?"}}
	case 2: // host name
		host, uhost := fuzzHost(a, b)
		return typedValue{kind: "host", other: "x" + host, args: []string{host, upperASCII(host), host + "."},
			text: []string{host, upperASCII(uhost), uhost + ".", uhost, "(" + host + ")", host + ","}}
	case 3: // IBAN
		cc := keep(strings.ToUpper(a), 2, func(c byte) bool { return c >= 'A' && c <= 'Z' })
		if len(cc) < 2 {
			cc = "DE"
		}
		check := keep(b, 2, isDigit)
		for len(check) < 2 {
			check += "7"
		}
		bban := keep(strings.ToUpper(c), 30, func(c byte) bool { return isDigit(c) || (c >= 'A' && c <= 'Z') })
		for len(bban) < 11 {
			bban += "0"
		}
		// As IBANs are: a run of letters at the end is at most a group or
		// two long (SC18 … 1497 USD).
		if !strings.ContainsFunc(bban[len(bban)-9:], unicode.IsDigit) {
			bban = bban[:len(bban)-9] + "7" + bban[len(bban)-8:]
		}
		v := cc + check + bban
		var groups []string
		for i := 0; i < len(v); i += 4 {
			groups = append(groups, v[i:min(i+4, len(v))])
		}
		g := strings.Join(groups, " ")
		o := []byte(v)
		o[2] = '0' + (o[2]-'0'+1)%10
		return typedValue{kind: "IBAN", other: string(o), args: []string{v, strings.ToLower(v), g, strings.Join(groups, "-")},
			text: []string{v, strings.ToLower(v), g, strings.ToLower(g), strings.Join(groups, "-"), "IBAN: " + g, "Pay to: " + g + ".", g + " (Acme Ltd)", "IBAN " + v + ","}}
	case 4: // phone number
		cc := strings.TrimLeft(keep(a, 3, isDigit), "0")
		if cc == "" {
			cc = "44"
		}
		n := strings.TrimLeft(keep(b, 10, isDigit), "0")
		for len(n) < 10 {
			n += "5"
		}
		a3, b3, c4 := n[:3], n[3:6], n[6:]
		o := []byte(n)
		o[9] = '0' + (o[9]-'0'+1)%10
		return typedValue{kind: "phone", other: "+" + cc + string(o), args: []string{"+" + cc + n, "+" + cc + " " + a3 + " " + b3 + " " + c4, n, a3 + "-" + b3 + "-" + c4},
			text: []string{"+" + cc + " " + a3 + " " + b3 + " " + c4, "+" + cc + " (" + a3 + ") " + b3 + "-" + c4, "(" + a3 + ") " + b3 + "-" + c4,
				a3 + "-" + b3 + "-" + c4, a3 + "." + b3 + "." + c4, "+" + cc + n, "tel:+" + cc + "-" + a3 + "-" + b3 + "-" + c4, "call " + a3 + " " + b3 + " " + c4 + "."}}
	default: // file path
		var segs []string
		for _, s := range strings.Split(a, "/") {
			s = strings.TrimRight(strings.TrimLeft(keep(s, 16, func(c byte) bool { return isAlnum(c) || strings.IndexByte("_-.", c) >= 0 }), ".-"), ".")
			if s != "" && len(segs) < 4 {
				segs = append(segs, s)
			}
		}
		for len(segs) < 2 {
			segs = append(segs, "x"+fmt.Sprint(len(segs)))
		}
		// A relative path's first segment is a name, not a host name: a
		// token that starts with a host name and a '/' is a link.
		var root string
		switch {
		case len(b) > 0 && b[0]%3 == 0:
			root = "/"
		case len(b) > 0 && b[0]%3 == 1:
			root = "~/"
		default:
			segs[0] = strings.ReplaceAll(segs[0], ".", "_")
		}
		v := root + strings.Join(segs, "/")
		detour := root + segs[0] + "/../" + strings.Join(segs, "/")
		dotted := root + "./" + strings.Join(segs, "/./")
		return typedValue{kind: "path", other: v + "x", args: []string{v, detour},
			text: []string{v, detour, dotted, "'" + v + "'", "(" + v + ")", v + ".", "copy " + v + ":"}}
	}
}

// FuzzTypedValues: a typed value, written in any of the forms text writes
// it in (case, a trailing dot, punycode or not, mailto:, with or without a
// scheme, in groups or not, with or without a country code, a path not
// cleaned) anywhere in an untrusted output, taints an argument that holds
// the value in any of the forms agents pass it in; a different value of
// the kind (another address of the domain, one digit off) is not tainted;
// and the value written so in the task's purpose makes the argument the
// user's. Seeds in testdata/fuzz/FuzzTypedValues.
func FuzzTypedValues(f *testing.F) {
	f.Fuzz(func(t *testing.T, sel uint8, a, b, c, before, after string) {
		v := fuzzTyped(sel, a, b, c)
		if v.kind == "path" && path.Clean(v.args[0]) != v.args[0] {
			t.Fatalf("the generator made an unclean path %q", v.args[0])
		}
		for i, form := range v.text {
			h := newHarness(t, Config{}, Options{})
			task := fmt.Sprintf("t%d", i)
			out := before + "\n" + form + "\n" + after
			h.run(callSpec{server: "mail", tool: "read", labels: []string{"untrusted"}, task: task, output: textResult(out)})
			for _, arg := range v.args {
				got := h.recall(callSpec{server: "x", tool: "send", task: task, input: `{"v":` + mustJSON(arg) + `}`})
				if !slices.Contains(got.Flow.Tainted, "v") {
					t.Fatalf("%s %q written %q in untrusted output: the argument %q is not tainted", v.kind, v.args[0], form, arg)
				}
			}
			if before == "" && after == "" {
				got := h.recall(callSpec{server: "x", tool: "send", task: task, input: `{"v":` + mustJSON(v.other) + `}`})
				if slices.Contains(got.Flow.Tainted, "v") {
					t.Fatalf("%s %q written %q in untrusted output taints another value %q", v.kind, v.args[0], form, v.other)
				}
			}
			purpose := "Please use " + form + " for this."
			for _, arg := range v.args {
				got := h.recall(callSpec{server: "x", tool: "send", task: task + "p", purpose: purpose, input: `{"v":` + mustJSON(arg) + `}`})
				if !slices.Contains(got.Flow.Trusted, "v") {
					t.Fatalf("%s %q written %q in the purpose: the argument %q is not the user's", v.kind, v.args[0], form, arg)
				}
			}
		}
	})
}
