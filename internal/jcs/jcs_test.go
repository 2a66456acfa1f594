package jcs

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestRFC8785Example is the example of RFC 8785 §3.2.3 (and its input from
// §3.2.2).
func TestRFC8785Example(t *testing.T) {
	in := `{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	got, err := Canonicalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Exact refuses the first number: 333333333.33333329 is not the double
	// its canonical form names.
	if _, err := Exact([]byte(in)); err == nil || !strings.Contains(err.Error(), "333333333.33333329") {
		t.Fatalf("Exact: %v", err)
	}
}

// TestRFC8785Sorting is the sorting example of RFC 8785 §3.2.3: keys are
// sorted by UTF-16 code units, not by code points or UTF-8 bytes.
func TestRFC8785Sorting(t *testing.T) {
	in := `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`
	got, err := Canonicalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	dec := json.NewDecoder(strings.NewReader(string(got)))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		_ = k
		order = append(order, v.(string))
	}
	want := []string{"Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("order = %q\nwant    %q", order, want)
	}
}

// TestRFC8785Numbers is the table of RFC 8785 Appendix B: IEEE-754 bit
// patterns and their ECMAScript serialisation.
func TestRFC8785Numbers(t *testing.T) {
	for _, tc := range []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	} {
		f := math.Float64frombits(tc.bits)
		if got := FormatNumber(f); got != tc.want {
			t.Errorf("%#016x: got %s, want %s", tc.bits, got, tc.want)
		}
		// The canonical text reads back as the same double, and is its
		// own canonical form.
		got, err := Canonicalize([]byte(tc.want))
		if err != nil || string(got) != tc.want {
			t.Errorf("Canonicalize(%s) = %s, %v", tc.want, got, err)
		}
		if _, err := Exact([]byte(tc.want)); err != nil {
			t.Errorf("Exact(%s): %v", tc.want, err)
		}
	}
	if FormatNumber(math.NaN()) != "null" || FormatNumber(math.Inf(1)) != "null" {
		t.Error("NaN and infinities have no JSON form")
	}
}

func TestCanonicalForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b":1, "a" : [ 1.0, 1e2, -0, 0.1 ] }`, `{"a":[1,100,0,0.1],"b":1}`},
		{`"<&>\u2028\u00e9\u001f"`, "\"<&>\u2028é\\u001f\""},
		{` "tab\tnl\n\b\f\r" `, `"tab\tnl\n\b\f\r"`},
		{`{"a":{"d":[],"c":{}}}`, `{"a":{"c":{},"d":[]}}`},
		{`12345678901234567890`, `12345678901234567000`},
		{`1e-400`, `0`},
	} {
		got, err := Canonicalize([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("Canonicalize(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestRejected(t *testing.T) {
	for _, in := range []string{
		``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `1e`, `+1`, `-`, `tru`, `nul`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, "\"\xff\"",
		"\"a\x01\"", `"\x"`, `"\u12"`, `1e400`, `-1e400`, `1 2`, `{} x`, `[` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth+1),
	} {
		if got, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("Canonicalize(%q) = %s, want an error", in, got)
		}
	}
}

// TestExactNumbers: Exact refuses a literal that its canonical form does
// not denote, so no two different numbers share a digest.
func TestExactNumbers(t *testing.T) {
	for _, in := range []string{`0.1`, `1.0`, `1e2`, `-0`, `0e99999`, `0.000e-99999`, `5e-324`, `9007199254740992`, `1.5E+300`} {
		if _, err := Exact([]byte(in)); err != nil {
			t.Errorf("Exact(%s): %v", in, err)
		}
	}
	for _, in := range []string{`9007199254740993`, `0.10000000000000000001`, `12345678901234567890`, `1e-400`, `1e-99999`, `333333333.33333329`} {
		if _, err := Exact([]byte(in)); err == nil {
			t.Errorf("Exact(%s) accepted a number it cannot bind", in)
		}
	}
}

// FuzzCanonicalize: whatever the input, canonicalizing never panics; what
// it accepts encoding/json accepts too, the canonical form is its own
// canonical form, and it means the same as the input.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{"b":[1,2.5,"x"],"a":null}`, `"\u20ac\ud83d\ude00"`, `[1e30,-0,0.000001]`, `{"a":{"b":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			return
		}
		if !json.Valid(in) || !json.Valid(out) {
			t.Fatalf("accepted %q → %q", in, out)
		}
		again, err := Canonicalize(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", in, out, again, err)
		}
		var a, b any
		if json.Unmarshal(in, &a) != nil || json.Unmarshal(out, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("meaning changed: %q → %q", in, out)
		}
		if ex, err := Exact(in); err == nil && string(ex) != string(out) {
			t.Fatalf("Exact and Canonicalize differ on %q", in)
		}
	})
}
