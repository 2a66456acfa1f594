package jsonrpc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r *Reader) (lines []string, errs []error) {
	t.Helper()
	for {
		l, err := r.Next()
		if err == io.EOF {
			return lines, errs
		}
		if err != nil {
			var tl *TooLargeError
			if !errors.As(err, &tl) {
				t.Fatalf("Next: %v", err)
			}
			errs = append(errs, err)
			lines = append(lines, "<too large>")
			continue
		}
		lines = append(lines, string(l))
	}
}

func TestReaderLines(t *testing.T) {
	in := "a\n\n  \r\nb\r\nc" // blank lines skipped, CRLF, no final newline
	lines, errs := readAll(t, NewReader(strings.NewReader(in), 100))
	if len(errs) != 0 || strings.Join(lines, "|") != "a|b|c" {
		t.Fatalf("lines = %q, errs = %v", lines, errs)
	}
}

func TestReaderOneByteAtATime(t *testing.T) {
	in := "first\nsecond\n"
	lines, _ := readAll(t, NewReader(iotest.OneByteReader(strings.NewReader(in)), 100))
	if strings.Join(lines, "|") != "first|second" {
		t.Fatalf("lines = %q", lines)
	}
}

func TestReaderTooLargeLosesNothingElse(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":7,"method":"x","params":{"p":"` + strings.Repeat("x", 300<<10) + `"}}`
	in := "before\n" + big + "\nafter\n" + strings.Repeat("y", 100) + "\n" + strings.Repeat("z", 101) + "\nlast"
	r := NewReader(strings.NewReader(in), 100)
	lines, errs := readAll(t, r)
	want := "before|<too large>|after|" + strings.Repeat("y", 100) + "|<too large>|last"
	if strings.Join(lines, "|") != want {
		t.Fatalf("lines = %q", lines)
	}
	var tl *TooLargeError
	if !errors.As(errs[0], &tl) || tl.Size != len(big) || tl.Limit != 100 || len(tl.Prefix) != 100 {
		t.Fatalf("err = %+v", errs[0])
	}
	e := tl.JSONRPC()
	if e.Code != CodeInvalidRequest || string(e.ID) != "7" {
		t.Errorf("JSONRPC() = %+v", e)
	}
}

func TestReaderLimitIsExact(t *testing.T) {
	// A line of exactly the limit passes, also with CRLF; one byte more does not.
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{strings.Repeat("a", 10) + "\n", true},
		{strings.Repeat("a", 10) + "\r\n", true},
		{strings.Repeat("a", 10), true},
		{strings.Repeat("a", 11) + "\n", false},
		{strings.Repeat("a", 11), false},
	} {
		_, err := NewReader(strings.NewReader(tc.line), 10).Next()
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v", tc.line, err)
		}
	}
}

func TestReaderPropagatesErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("ok\npart"), iotest.ErrReader(boom)), 100)
	if l, err := r.Next(); err != nil || string(l) != "ok" {
		t.Fatalf("Next = %q, %v", l, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestWriterConcurrentMessagesDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_ = w.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 1000))
		}(i)
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if len(l) != 1000 || strings.Count(l, l[:1]) != 1000 {
			t.Fatalf("interleaved line: %.40q…", l)
		}
	}
}
