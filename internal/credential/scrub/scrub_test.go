package scrub

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	var s Set
	s.Add("sk-<plain>&0123")
	s.Add("short")
	raw := []byte(`{"a":"sk-<plain>&0123","b":"sk-\u003cplain\u003e\u00260123","c":"short"}`)
	out := s.Bytes(raw)
	if !json.Valid(out) || bytes.Contains(out, []byte("plain")) || !bytes.Contains(out, []byte(`"c":"short"`)) {
		t.Fatalf("scrubbed: %s", out)
	}
	clean := []byte(`{"nothing":"here"}`)
	if got := s.Bytes(clean); &got[0] != &clean[0] {
		t.Fatal("a message without secrets was copied")
	}
	var nilSet *Set
	if string(nilSet.Bytes(raw)) != string(raw) {
		t.Fatal("a nil set changed the message")
	}
	// Short-lived secrets leave the set once expired.
	s.AddUntil("at-expired-0123456789", time.Now().Add(-time.Second))
	s.Add("another-secret-value")
	if len(s.entries) != 2 {
		t.Fatalf("entries: %v", s.entries)
	}
	if got := Values([]byte("x tok-0123456789 y"), "tok-0123456789", ""); string(got) != "x "+Mask+" y" {
		t.Fatalf("Values: %s", got)
	}
}
