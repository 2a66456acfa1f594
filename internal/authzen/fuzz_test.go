package authzen

import (
	"context"
	"errors"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
)

// FuzzParse: request parsing and mapping never panic and fail only with a
// coded *Error. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"subject":{"type":"agent","id":"a","properties":{"groups":["g"],"x":{"y":[1,2.5]}}},"action":{"name":"s/t"},"resource":{"type":"server","id":"s"},"context":{"input":{"a":1}}}`))
	f.Add([]byte(`{"evaluations":[{"subject":{"type":"user","id":"u"},"action":{"name":"t"},"resource":{"id":"s"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			var ae *Error
			if err != nil && (!errors.As(err, &ae) || ae.Code == "") {
				t.Fatalf("uncoded error %v", err)
			}
		}
		if req, err := ParseEvaluation(b); err == nil {
			c, err := req.Call(now)
			check(err)
			if err == nil && (c.Principal.ID == "" || c.Server.Name == "" || c.Tool.Name == "") {
				t.Fatalf("incomplete call accepted: %+v", c)
			}
		} else {
			check(err)
		}
		if req, err := ParseEvaluations(b); err == nil {
			req.Evaluate(context.Background(), now, nil, func(context.Context, *call.Call) call.Decision { return call.Decision{Effect: call.Deny} })
		} else {
			check(err)
		}
	})
}
