package cedarjson

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/cedar-policy/cedar-go/types"
)

// FuzzFromJSON: any input converts to a record or fails with a coded *Error;
// nothing panics, and limits hold. Seeds: testdata/fuzz/FuzzFromJSON.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.5,{"b":null}]}`, `{"n":1e308}`, `{"n":-0.00010}`, `[[[[]]]]`, `{"a":"\ud800"}`} {
		f.Add([]byte(s), false)
	}
	shape, _ := CompileSchema(json.RawMessage(`{"properties":{"a":{"type":"number"},"b":{"type":"integer"},"c":{"items":{"type":"number"}}}}`))
	lim := Limits{MaxBytes: 4096, MaxDepth: 8, MaxValues: 200}
	f.Fuzz(func(t *testing.T, in []byte, withShape bool) {
		s := (*Shape)(nil)
		if withShape {
			s = shape
		}
		v, err := FromJSON(in, "input", s, lim, true)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Code == "" {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if _, ok := v.(types.Record); !ok {
			t.Fatalf("not a record: %T", v)
		}
		if !json.Valid(in) {
			t.Fatalf("invalid JSON accepted: %q", in)
		}
	})
}
