// Package factstest holds the assertion helper the classifier tests share.
package factstest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/facts"
)

// Check compares the fields named in want with got. A wanted non-empty
// []string must be a subset of the got set; an empty one requires an empty
// set. Other values must be equal. It also checks that every value has a
// type that converts to Cedar.
func Check(t *testing.T, got facts.Facts, want map[string]any) {
	t.Helper()
	CheckTypes(t, got)
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("field %q missing in %v", k, got)
			continue
		}
		switch w := w.(type) {
		case []string:
			gs, ok := g.([]string)
			if !ok {
				t.Errorf("%s: got %T, want []string", k, g)
				continue
			}
			if len(w) == 0 && len(gs) != 0 {
				t.Errorf("%s = %v, want empty", k, gs)
			}
			for _, e := range w {
				if !slices.Contains(gs, e) {
					t.Errorf("%s = %v, want it to contain %q", k, gs, e)
				}
			}
		case int:
			if g != int64(w) {
				t.Errorf("%s = %v (%T), want %d", k, g, g, w)
			}
		default:
			if g != w {
				t.Errorf("%s = %#v, want %#v", k, g, w)
			}
		}
	}
	if t.Failed() {
		t.Logf("facts: %v", got)
	}
}

// CheckTypes fails on values Cedar conversion would not accept, and on
// sets that are not sorted and unique (so facts compare and log stably).
func CheckTypes(t testing.TB, f facts.Facts) {
	t.Helper()
	if err := Types(f); err != nil {
		t.Error(err)
	}
	if pe, _ := f["parse_error"].(bool); pe {
		if s, _ := f["error"].(string); s == "" {
			t.Errorf("parse_error without error text: %v", f)
		}
	} else if _, ok := f["error"]; ok {
		t.Errorf("error without parse_error: %v", f)
	}
}

// Types reports the first value of a type outside the Facts contract.
func Types(f facts.Facts) error {
	for k, v := range f {
		switch v := v.(type) {
		case string, bool, int64, map[string]any, []any:
		case []string:
			if v == nil {
				return fmt.Errorf("%s: nil set", k)
			}
			if !slices.IsSorted(v) || len(slices.Compact(slices.Clone(v))) != len(v) {
				return fmt.Errorf("%s: set not sorted and unique: %v", k, v)
			}
		default:
			return fmt.Errorf("%s: value %v of type %T not allowed in facts", k, v, v)
		}
	}
	if _, ok := f["parse_error"].(bool); !ok {
		return fmt.Errorf("parse_error missing")
	}
	return nil
}
