// Package compact checks the form of a compact JWS (header.payload.signature)
// before anything is decoded from it. Go's base64 decoders skip newlines and
// accept non-zero padding bits, so one token has many spellings that decode
// to the same bytes and verify alike; toolgate accepts only the one
// canonical spelling, so that a token is one string: what was verified,
// remembered, logged or compared is what the signer produced.
package compact

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Check reports whether raw is three canonical base64url segments (no
// padding, no characters outside the alphabet, zero padding bits) joined by
// dots.
func Check(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errors.New("not three base64url parts separated by dots")
	}
	for n, p := range parts {
		name := [...]string{"header", "payload", "signature"}[n]
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("its %s holds a character that is not base64url", name)
			}
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(p); err != nil {
			return fmt.Errorf("its %s is not canonical base64url", name)
		}
	}
	return nil
}
