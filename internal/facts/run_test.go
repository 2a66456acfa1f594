package facts

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRunLimits(t *testing.T) {
	zero := func() Facts { return Facts{"parse_error": false, "inside": false} }
	opts := Options{MaxInputBytes: 8}

	if f := Run(opts, "123456789", zero, func(*Budget) Facts { t.Fatal("ran on oversized input"); return nil }); f["parse_error"] != true || f["inside"] != false {
		t.Errorf("oversized: %v", f)
	}
	if f := Run(opts, "x", zero, func(*Budget) Facts { panic("boom") }); f["parse_error"] != true || !strings.Contains(f["error"].(string), "boom") || f["inside"] != false {
		t.Errorf("panic: %v", f)
	}

	// The budget grows with the input, and an analysis that spends it all
	// is stopped by its own loop, the same way every time.
	steps := func(value string) int {
		n := 0
		Run(Options{}, value, zero, func(b *Budget) Facts {
			for !b.Spend(1) {
				n++
			}
			return zero()
		})
		return n
	}
	small, large := steps("x"), steps(strings.Repeat("x", 1000))
	if small <= 0 || large <= small || large-small != stepsPerByte*999 {
		t.Errorf("budget of 1 byte %d steps, of 1,000 bytes %d", small, large)
	}
	if again := steps("x"); again != small {
		t.Errorf("budget not a function of the input: %d then %d", small, again)
	}
	if f := Fail(zero(), strings.Repeat("é", 1000)); len(f["error"].(string)) > maxError+len("…") || !utf8.ValidString(f["error"].(string)) {
		t.Errorf("long error text kept: %d bytes", len(f["error"].(string)))
	}
	var nilBudget *Budget
	if nilBudget.Spend(1 << 30) {
		t.Error("a nil budget is unlimited")
	}
}
