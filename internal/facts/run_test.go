package facts

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRunLimits(t *testing.T) {
	zero := func() Facts { return Facts{"parse_error": false, "inside": false} }
	opts := Options{Timeout: 20 * time.Millisecond, MaxInputBytes: 8}

	if f := Run(opts, "123456789", zero, func(*Budget) Facts { t.Fatal("ran on oversized input"); return nil }); f["parse_error"] != true {
		t.Errorf("oversized: %v", f)
	}
	if f := Run(opts, "x", zero, func(*Budget) Facts { panic("boom") }); f["parse_error"] != true || !strings.Contains(f["error"].(string), "boom") {
		t.Errorf("panic: %v", f)
	}

	// A small value runs on the caller's goroutine; an answer past the
	// deadline is still a timeout.
	if f := Run(opts, "x", zero, func(*Budget) Facts { time.Sleep(40 * time.Millisecond); return Facts{"parse_error": false} }); f["error"] != ErrTimeout {
		t.Errorf("late answer: %v", f)
	}

	// A large value runs on its own goroutine: the caller leaves at the
	// deadline even if the analysis is stuck.
	opts.MaxInputBytes = 64 << 10
	big := strings.Repeat("x", inlineMax+1)
	release := make(chan struct{})
	block := func(*Budget) Facts { <-release; return Facts{"parse_error": false} }
	start := time.Now()
	if f := Run(opts, big, zero, block); f["error"] != ErrTimeout {
		t.Errorf("slow analysis: %v", f)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run waited %v for a stuck analysis", d)
	}
	for int64(stragglers.Load()) < maxStragglers() {
		Run(opts, big, zero, block)
	}
	f := Run(opts, big, zero, func(*Budget) Facts { t.Error("ran while too many stragglers"); return nil })
	if f["parse_error"] != true || !strings.Contains(f["error"].(string), "still running") {
		t.Errorf("straggler limit: %v", f)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for stragglers.Load() > 0 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := stragglers.Load(); n != 0 {
		t.Errorf("%d stragglers left", n)
	}

	// A budget polled in a loop stops the analysis's own work.
	f = Run(opts, "x", zero, func(b *Budget) Facts {
		for !b.Exceeded() {
		}
		return Fail(zero(), ErrTimeout)
	})
	if f["error"] != ErrTimeout {
		t.Errorf("budget: %v", f)
	}
}
