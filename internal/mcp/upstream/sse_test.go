package upstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func events(t *testing.T, in string, limit int) ([]Event, error) {
	t.Helper()
	r := NewSSEReader(strings.NewReader(in), limit)
	var out []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	in := ": keep-alive\n\nevent: message\nid: s1_1\ndata: {\"a\":1}\n\n" +
		"data:x\r\ndata: y\r\n\r\n" + "retry: 1500\n\n" + "id: nul\x00\ndata: z\n\n" + "data: cut off"
	got, err := events(t, in, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d events: %+v", len(got), got)
	}
	if got[0].ID != "s1_1" || !got[0].HasID || got[0].Name != "message" || string(got[0].Data) != `{"a":1}` {
		t.Errorf("event 0 = %+v", got[0])
	}
	if string(got[1].Data) != "x\ny" || got[1].HasID {
		t.Errorf("event 1 = %+v", got[1])
	}
	if got[2].Retry != 1500*time.Millisecond {
		t.Errorf("event 2 = %+v", got[2])
	}
	if got[3].HasID || string(got[3].Data) != "z" { // an id with NUL is ignored
		t.Errorf("event 3 = %+v", got[3])
	}
}

func TestSSEReaderLimit(t *testing.T) {
	_, err := events(t, "data: "+strings.Repeat("a", 100)+"\n\n", 50)
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v", err)
	}
	_, err = events(t, strings.Repeat("data: aaaaaaaaaa\n", 10)+"\n", 50)
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("many lines: err = %v", err)
	}
}

func TestWriteEventRoundTrip(t *testing.T) {
	var b bytes.Buffer
	for _, d := range []string{`{"jsonrpc":"2.0","method":"x"}`, "{\n  \"a\": 1\n}"} {
		b.Reset()
		if err := WriteEvent(&b, "r1_7", []byte(d)); err != nil {
			t.Fatal(err)
		}
		got, err := events(t, b.String(), 1024)
		if err != nil || len(got) != 1 || string(got[0].Data) != d || got[0].ID != "r1_7" {
			t.Errorf("%q → %q → %+v %v", d, b.String(), got, err)
		}
	}
}

// FuzzSSEReader: any input ends in events or an error, never a panic or a
// hang, and no event's data is larger than the limit.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: {}\n\n", "id: 1\r\ndata: a\r\ndata: b\r\n\r\n", ":\n\nretry: 10\n\n", "data", "\n\n\n",
		"event: message\nid: r1_2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewSSEReader(bytes.NewReader(in), 256)
		for i := 0; i <= len(in); i++ {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > 256 {
				t.Fatalf("event of %d bytes over the limit", len(ev.Data))
			}
		}
		t.Fatal("more events than input bytes")
	})
}
