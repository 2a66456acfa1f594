package compact_test

import (
	"testing"

	"github.com/toolgate/toolgate/internal/compact"
)

func TestCheck(t *testing.T) {
	for raw, ok := range map[string]bool{
		"eyJhbGciOiJFUzI1NiJ9.e30.AAAA":  true,
		"eyJhbGciOiJFUzI1NiJ9.e30.":      true,
		"eyJhbGciOiJFUzI1NiJ9.e31.AAAA":  false, // "e31" has padding bits set: same bytes as "e30"
		"eyJhbGciOiJFUzI1NiJ9.e30=.AAAA": false,
		"eyJhbGciOiJFUzI1NiJ9.e3\n0.AAA": false,
		"eyJhbGciOiJFUzI1NiJ9.e30.AA+A":  false,
		"eyJhbGciOiJFUzI1NiJ9.e30.A":     false, // a length no encoding has
		"a.b":                            false,
		"a.b.c.d":                        false,
	} {
		if err := compact.Check(raw); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%t", raw, err, ok)
		}
	}
}
