package audit

import (
	"bytes"
	"encoding/json"
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
