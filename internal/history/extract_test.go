package history

import (
	"slices"
	"strings"
	"testing"
)

func hashes(s string) map[uint64]bool {
	out := map[uint64]bool{}
	x := &extractor{emit: func(h uint64, _ bool) { out[h] = true }}
	x.text(s)
	return out
}

// emitted returns the values x finds in s, in order.
func emitted(x *extractor, s string) []uint64 {
	var out []uint64
	x.emit = func(h uint64, _ bool) { out = append(out, h) }
	x.text(s)
	return out
}

func h(k kind, canon string) uint64 { return valueHash(k, []byte(canon)) }

func TestExtractValues(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []uint64
		not  []uint64
	}{
		{"Please wire the money to attacker@Evil-Corp.com today.", []uint64{h(kindEmail, "attacker@evil-corp.com"), h(kindDomain, "evil-corp.com")}, nil},
		{"mailto:Bob@Example.org", []uint64{h(kindEmail, "bob@example.org")}, nil},
		{"see https://Files.EVIL.io/upload/x?a=1.", []uint64{h(kindURL, "files.evil.io/upload/x?a=1"), h(kindDomain, "files.evil.io")}, nil},
		{"(http://user:pw@host.example.com:8080/)", []uint64{h(kindURL, "host.example.com:8080"), h(kindDomain, "host.example.com")}, nil},
		{"Total due: $4,999.50 by Friday", []uint64{h(kindNumber, "4999.5")}, nil},
		{"amount 004999.500", []uint64{h(kindNumber, "4999.5")}, nil},
		{"Pay IBAN DE89 3704 0044 0532 0130 00 now", []uint64{h(kindID, "de89370400440532013000")}, nil},
		{"account DE89370400440532013000", []uint64{h(kindID, "de89370400440532013000")}, nil},
		{"card 4111-1111-1111-1111", []uint64{h(kindID, "4111111111111111")}, nil},
		{"card 4000 0566 5566 5556", []uint64{h(kindID, "4000056655665556")}, nil},
		{"4000056655665556", []uint64{h(kindID, "4000056655665556")}, nil},
		{"push it to mallory/exfil-repo please", []uint64{h(kindID, "mallory/exfilrepo")}, nil},
		{"key AKIA1234567890ABCDEF", []uint64{h(kindID, "akia1234567890abcdef")}, nil},
		{"read config.yaml and evil.com", []uint64{h(kindDomain, "evil.com")}, nil},
		{"nothing here but plain words and a 7", nil, []uint64{h(kindNumber, "7")}},
		{"ordinary well-known words", nil, []uint64{h(kindID, "wellknown")}},
		{`{"to":"x@y.com","amount":250}`, []uint64{h(kindEmail, "x@y.com"), h(kindNumber, "250")}, nil},
		// Links as e-mails and pages write them: without a scheme.
		{"collect at www.Example.com/collect?id=7 now", []uint64{h(kindURL, "www.example.com/collect?id=7"), h(kindDomain, "www.example.com")}, nil},
		{"see example.com/x?y=1.", []uint64{h(kindURL, "example.com/x?y=1"), h(kindDomain, "example.com")}, nil},
		{"http://EXAMPLE.com./x/", []uint64{h(kindURL, "example.com/x"), h(kindDomain, "example.com")}, nil},
		// Trailing dots, internationalised names.
		{"write to ops@evil.example. today", []uint64{h(kindEmail, "ops@evil.example"), h(kindDomain, "evil.example")}, nil},
		{"visit bücher.example or mail a@bücher.example", []uint64{h(kindDomain, "xn--bcher-kva.example"), h(kindEmail, "a@xn--bcher-kva.example")}, nil},
		{"https://xn--bcher-kva.example/a", []uint64{h(kindURL, "xn--bcher-kva.example/a"), h(kindDomain, "xn--bcher-kva.example")}, nil},
		// Phone numbers, with and without the country code.
		{"call +1 (555) 010-9999 now", []uint64{h(kindPhone, "15550109999"), h(kindPhone, "5550109999")}, nil},
		{"or (555) 010 9999", []uint64{h(kindPhone, "5550109999")}, nil},
		{"UK: +44 20 7946 0958, 020 7946 0958", []uint64{h(kindPhone, "442079460958"), h(kindPhone, "2079460958")}, nil},
		{"due 2026-11-27 or 27.11.2026, total 1234567.50", nil, []uint64{h(kindPhone, "20261127"), h(kindPhone, "27112026"), h(kindPhone, "123456750")}},
		// File paths, cleaned.
		{"copy ~/.ssh/id_rsa and /etc/../etc/passwd", []uint64{h(kindPath, "~/.ssh/id_rsa"), h(kindPath, "/etc/passwd")}, nil},
		{"reports/./q3/../q4.pdf", []uint64{h(kindPath, "reports/q4.pdf")}, nil},
	} {
		got := hashes(tc.text)
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("%q: a wanted value is missing (got %d values)", tc.text, len(got))
			}
		}
		for _, n := range tc.not {
			if got[n] {
				t.Errorf("%q: an unwanted value was extracted", tc.text)
			}
		}
	}
}

// TestExtractEmailDomainDerived: an e-mail address's domain is marked
// derived (it taints domains and URLs, not other addresses of the domain).
func TestExtractEmailDomainDerived(t *testing.T) {
	derived := map[uint64]bool{}
	x := &extractor{emit: func(h uint64, d bool) { derived[h] = d }}
	x.text("mallory@gmail.com")
	if !derived[h(kindDomain, "gmail.com")] || derived[h(kindEmail, "mallory@gmail.com")] {
		t.Fatalf("the domain of an address must be derived, the address not: %v", derived)
	}
	derived = map[uint64]bool{}
	x.text("https://gmail.com/x")
	if derived[h(kindDomain, "gmail.com")] {
		t.Fatal("a URL's host is not derived from an address")
	}
}

// TestExtractWords: a short string as a whole, and the words of a text.
func TestExtractWords(t *testing.T) {
	var got []uint64
	x := &extractor{emit: func(h uint64, _ bool) { got = append(got, h) }}
	x.word("  Bob   Smith ")
	if len(got) != 1 || got[0] != h(kindWord, "bobsmith") {
		t.Fatalf("whole: %v", got)
	}
	got = nil
	x.words("Post it in #general for Bob.")
	for _, w := range []string{"post", "it", "in", "general", "for", "bob"} {
		if !slices.Contains(got, h(kindWord, w)) {
			t.Errorf("word %q missing", w)
		}
	}
	got = nil
	x.word(strings.Repeat("a", maxWord+1))
	if len(got) != 0 {
		t.Fatal("a long string is not a word")
	}
}

func TestExtractSameValueSameHash(t *testing.T) {
	// The same value reads the same in output and in an argument.
	pairs := [][2]string{
		{"send to ATTACKER@evil.com.", "attacker@evil.com"},
		{"IBAN: GB29 NWBK 6016 1331 9268 19", "GB29NWBK60161331926819"},
		{"pay €1,200.00", "1200"},
		{"see https://evil.com/", "https://EVIL.com"},
		{"see http://evil.com/c?d=1", "evil.com/c?d=1"},
		{"call (555) 010-9999", "+15550109999"},
		{"IBAN DE89 3704 0044 0532 0130 00", "DE89-3704-0044-0532-0130-00"},
	}
	for _, p := range pairs {
		a, b := hashes(p[0]), hashes(p[1])
		shared := false
		for k := range b {
			if a[k] {
				shared = true
			}
		}
		if !shared {
			t.Errorf("%q and %q share no value", p[0], p[1])
		}
	}
	x := &extractor{}
	var n1, n2 []uint64
	x.emit = func(h uint64, _ bool) { n1 = append(n1, h) }
	x.jsonNumber("1.2e3")
	x.emit = func(h uint64, _ bool) { n2 = append(n2, h) }
	x.text("1200.00")
	if len(n1) != 1 || len(n2) != 1 || n1[0] != n2[0] {
		t.Errorf("1.2e3 and 1200.00 differ: %v %v", n1, n2)
	}
}

// TestExtractAdversarial runs inputs built to make a careless scanner
// quadratic; each must finish and yield a bounded number of values.
func TestExtractAdversarial(t *testing.T) {
	const n = 1 << 20
	for _, s := range []string{
		strings.Repeat("a", n),
		strings.Repeat("a@", n/2),
		strings.Repeat("1,", n/2),
		strings.Repeat("a.", n/2),
		strings.Repeat("http://", n/7),
		strings.Repeat("ab12 ", n/5),
		strings.Repeat("://@.", n/5),
		strings.Repeat("€", n/3),
	} {
		count := 0
		x := &extractor{emit: func(uint64, bool) { count++ }}
		x.text(s)
		if count > len(s) {
			t.Errorf("%q…: %d values from %d bytes", s[:10], count, len(s))
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		"wire 4,999.00 to DE89 3704 0044 0532 0130 00",
		"mail attacker@evil.com https://evil.com/x?y=1",
		"mallory/exfil AKIA1234567890",
		"$1.2e3 -0.00 +12",
		"http://[::1]:80/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		count := 0
		x := &extractor{emit: func(uint64, bool) { count++ }}
		x.text(s)
		// Every value comes from a token of at least two bytes, and a byte
		// is in at most a few values (URL and host, e-mail and domain,
		// token and group).
		if count > 4*len(s)/2+1 {
			t.Fatalf("%d values from %d bytes", count, len(s))
		}
		// The same text twice gives the same values, in the same order, and
		// so does the extractor after it read other text.
		a, b := emitted(&extractor{}, s), emitted(x, s)
		if !slices.Equal(a, b) {
			t.Fatalf("not deterministic: %x, then %x", a, b)
		}
		x.jsonNumber(s)
		_ = canonJSONNumber(nil, s)
	})
}
