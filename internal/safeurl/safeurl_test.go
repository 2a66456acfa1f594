package safeurl_test

import (
	"testing"

	"github.com/toolgate/toolgate/internal/safeurl"
)

func TestCheck(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://idp.example.com/":        true,
		"HTTPS://idp.example.com:8443/x":  true,
		"http://127.0.0.1:8470/jwks":      true,
		"http://127.200.0.1/":             true,
		"http://[::1]:80/":                true,
		"http://LOCALHOST/":               true,
		"http://idp.example.com/":         false,
		"http://localhost.evil.example/":  false,
		"http://127.0.0.1.nip.io/":        false,
		"http://10.0.0.1/":                false,
		"http://[::ffff:10.0.0.1]/":       false,
		"http://0.0.0.0/":                 false,
		"ftp://idp.example.com/":          false,
		"file:///etc/jwks.json":           false,
		"idp.example.com/jwks":            false,
		"https:idp.example.com":           false,
		"":                                false,
		"http://user@127.0.0.1@evil.com/": false,
	} {
		if err := safeurl.Check(raw); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%t", raw, err, ok)
		}
	}
}
