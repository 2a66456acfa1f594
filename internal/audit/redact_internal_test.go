package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzCleanIsConservative: whenever the raw pre-check calls arguments
// clean, the full decoding finds nothing to redact either.
func FuzzCleanIsConservative(f *testing.F) {
	f.Add([]byte(`{"path":"/tmp/x","n":1}`))
	f.Add([]byte(`{"to_ken":"x","p-w-d":"y"}`))
	f.Add([]byte(`{"u":"postgres:\/\/a:b@c"}`))
	f.Add([]byte(`{"s":"Bearer abcdefghijklmnop"}`))
	r, err := NewRedactor(RedactConfig{}, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.UseNumber()
		if dec.Decode(&v) != nil || dec.More() || !r.clean(in) {
			return
		}
		if _, changed := r.walk(v, nil); changed {
			t.Fatalf("clean() passed %q, but it has something to redact", in)
		}
	})
}

// FuzzSecretKey: the key rule (secretKey) is consistent with the raw
// pre-check (a secret key always contains a stem once its separators are
// dropped), does not depend on which separator is used, and a secret key
// stays secret behind any prefix.
func FuzzSecretKey(f *testing.F) {
	for _, k := range []string{"db_password", "X-Auth-Token", "userPassword", "APIKey", "aws_secret_access_key",
		"max_tokens", "pass.word", "tokenizer", "a-b_c.d e", "ÄpiKey", "x\u00e9token"} {
		f.Add(k, "prefix")
	}
	f.Fuzz(func(t *testing.T, k, prefix string) {
		secret := secretKey(k)
		if secret {
			sq := squash(toLowerASCII(k))
			found := false
			for _, stem := range secretKeyStems {
				found = found || strings.Contains(sq, stem)
			}
			if !found {
				t.Fatalf("secretKey(%q) but no stem in %q: clean() would skip it", k, sq)
			}
			for _, p := range []string{prefix + "_", prefix + "-", prefix + ".", "x_"} {
				if !secretKey(p + k) {
					t.Fatalf("secretKey(%q) but not secretKey(%q)", k, p+k)
				}
			}
		}
		for _, sep := range []string{"_", "-", ".", " "} {
			k2 := strings.NewReplacer("_", sep, "-", sep, ".", sep, " ", sep).Replace(k)
			if secretKey(k2) != secret {
				t.Fatalf("secretKey(%q) = %v but secretKey(%q) = %v", k, secret, k2, !secret)
			}
		}
	})
}
