// Package scrub removes the upstream secrets toolgate holds from what
// upstream servers send back, so that a server that echoes a secret (an
// error quoting the API key it was given, a tool that prints its
// environment) cannot hand it to the agent, the logs or the audit trail.
//
// It is defence in depth, not the guarantee: the guarantee is that toolgate
// never puts a secret anywhere but the upstream request. Scrubbing finds a
// secret as it was given and as JSON escapes it; a server that encodes it
// otherwise (base64, split in pieces) is not caught.
//
// This package is a leaf: the MCP transports import it.
package scrub

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Mask replaces a secret. It is plain ASCII without quotes or backslashes,
// so JSON text stays valid wherever a secret stood inside a string.
const Mask = "[secret removed by toolgate]"

// MinLen is the length below which a value is not accepted as a secret:
// masking short strings would mangle unrelated text, and no real API key or
// token is that short.
const MinLen = 8

// Set is a set of secrets to remove. The zero value is empty; a nil *Set
// removes nothing. Safe for concurrent use.
type Set struct {
	mu      sync.Mutex
	pats    atomic.Pointer[[][]byte]
	entries map[string]time.Time // secret → until when (zero: for good)
}

// Add adds a secret for good (values shorter than MinLen are ignored;
// callers refuse them before they get here).
func (s *Set) Add(secret string) { s.AddUntil(secret, time.Time{}) }

// AddUntil adds a secret that stops mattering at until (an access token
// that expires then): it is dropped from the set at a later Add after
// that, so short-lived tokens do not pile up.
func (s *Set) AddUntil(secret string, until time.Time) {
	if len(secret) < MinLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = map[string]time.Time{}
	}
	if old, ok := s.entries[secret]; ok && (old.IsZero() || (!until.IsZero() && !until.After(old))) {
		return
	}
	s.entries[secret] = until
	now := time.Now()
	var pats [][]byte
	for v, u := range s.entries {
		if !u.IsZero() && u.Before(now) {
			delete(s.entries, v)
			continue
		}
		pats = appendForms(pats, v)
	}
	s.pats.Store(&pats)
}

// Bytes returns b with every secret masked; b itself when none is there.
func (s *Set) Bytes(b []byte) []byte {
	if s == nil {
		return b
	}
	p := s.pats.Load()
	if p == nil {
		return b
	}
	return replace(b, *p)
}

// String is Bytes for a string.
func (s *Set) String(str string) string {
	if s == nil || s.pats.Load() == nil {
		return str
	}
	return string(s.Bytes([]byte(str)))
}

// Values returns b with the given secrets masked (those of one call).
func Values(b []byte, secrets ...string) []byte {
	var pats [][]byte
	for _, v := range secrets {
		if len(v) >= MinLen {
			pats = appendForms(pats, v)
		}
	}
	return replace(b, pats)
}

// appendForms adds the forms a secret takes in text and in JSON: as is, and
// escaped by JSON encoders (with and without HTML escaping).
func appendForms(pats [][]byte, secret string) [][]byte {
	forms := [][]byte{[]byte(secret)}
	for _, html := range []bool{true, false} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(html)
		if enc.Encode(secret) == nil {
			q := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			forms = append(forms, q[1:len(q)-1])
		}
	}
	for _, f := range forms {
		dup := false
		for _, p := range pats {
			if bytes.Equal(p, f) {
				dup = true
				break
			}
		}
		if !dup {
			pats = append(pats, f)
		}
	}
	return pats
}

func replace(b []byte, pats [][]byte) []byte {
	out := b
	for _, p := range pats {
		if bytes.Contains(out, p) {
			out = bytes.ReplaceAll(out, p, []byte(Mask))
		}
	}
	return out
}

// Writer masks secrets in what is written to w, write by write (a secret
// split across two writes is not caught): for a child process's stderr,
// which arrives a line or more at a time. With no secrets in s yet, it is w
// itself, so a child that gets no secret keeps writing to w directly (an
// *os.File is then passed to the child as it is, with no copying).
func Writer(w io.Writer, s *Set) io.Writer {
	if s == nil || s.pats.Load() == nil {
		return w
	}
	return &writer{w: w, s: s}
}

type writer struct {
	w io.Writer
	s *Set
}

func (x *writer) Write(p []byte) (int, error) {
	if _, err := x.w.Write(x.s.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
