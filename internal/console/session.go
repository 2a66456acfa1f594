package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/call"
)

// A session is a person signed in to the console. The browser holds only a
// random id in an HttpOnly, SameSite=Strict cookie; the session itself is
// kept here, by the id's SHA-256, so a leaked memory dump or log of this
// map names no cookie. Sessions live in this process: with several
// replicas, a person stays on the replica they signed in to (or signs in
// again).
type session struct {
	Principal call.Principal
	// Operator is the holder of the local admin key: like the CLI on the
	// data directory, it may do everything.
	Operator bool
	// Via is how the person signed in: "oidc", "api_key", "admin_key".
	Via     string
	CSRF    string
	Created time.Time
	Expires time.Time // absolute end
	Seen    time.Time // last use (idle timeout)
}

// Name is the person as the console shows them.
func (s *session) Name() string {
	if s.Operator {
		return "local operator"
	}
	return principalName(s.Principal)
}

func principalName(p call.Principal) string {
	t := "Agent"
	if p.Kind == call.KindUser {
		t = "User"
	}
	return t + "::\"" + p.ID + "\""
}

// sessions is the session table.
type sessions struct {
	mu   sync.Mutex
	byID map[[32]byte]*session
	idle time.Duration
	ttl  time.Duration
	now  func() time.Time
}

// maxSessions bounds the table: past it the oldest sessions are ended, so
// sign-ins in a loop cannot exhaust memory.
const maxSessions = 10000

func newSessions(ttl, idle time.Duration, now func() time.Time) *sessions {
	return &sessions{byID: map[[32]byte]*session{}, ttl: ttl, idle: idle, now: now}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns the cookie value.
func (t *sessions) create(s *session) string {
	id := randomToken()
	now := t.now()
	s.CSRF = randomToken()
	s.Created, s.Seen, s.Expires = now, now, now.Add(t.ttl)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	if len(t.byID) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range t.byID {
			if at.IsZero() || v.Created.Before(at) {
				oldest, at = k, v.Created
			}
		}
		delete(t.byID, oldest)
	}
	t.byID[sha256.Sum256([]byte(id))] = s
	return id
}

// get returns the live session of a cookie value and marks it used.
func (t *sessions) get(id string) *session { return t.lookup(id, true) }

// peek returns the live session of a cookie value without marking it used:
// the page's own live updates do not keep a session alive that nobody
// uses.
func (t *sessions) peek(id string) *session { return t.lookup(id, false) }

func (t *sessions) lookup(id string, use bool) *session {
	if id == "" {
		return nil
	}
	key := sha256.Sum256([]byte(id))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[key]
	if !ok {
		return nil
	}
	if !now.Before(s.Expires) || now.Sub(s.Seen) >= t.idle {
		delete(t.byID, key)
		return nil
	}
	if use {
		s.Seen = now
	}
	cp := *s
	return &cp
}

// end ends the session of a cookie value.
func (t *sessions) end(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byID, sha256.Sum256([]byte(id)))
}

// sweep drops ended sessions; t.mu is held.
func (t *sessions) sweep(now time.Time) {
	for k, s := range t.byID {
		if !now.Before(s.Expires) || now.Sub(s.Seen) >= t.idle {
			delete(t.byID, k)
		}
	}
}

// sameToken compares two secrets in constant time.
func sameToken(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// cookies names and sets the console's cookies. Over https (or a public
// URL that is https) they are Secure, and the session cookie carries the
// __Host- prefix (Secure, Path=/, no Domain: no other host or path can set
// or shadow it). On plain http on loopback they cannot be Secure (the
// browser would drop them) and are bound to /console instead.
type cookies struct {
	secure bool
}

func (c cookies) session() string {
	if c.secure {
		return "__Host-toolgate-console"
	}
	return "toolgate-console"
}

func (c cookies) path() string {
	if c.secure {
		return "/"
	}
	return "/console"
}

// loginCookie binds an OIDC sign-in to the browser that started it. It is
// SameSite=Lax: the provider's redirect back is a cross-site navigation,
// on which a Strict cookie would not be sent.
const loginCookie = "toolgate-console-login"

// preCookie holds the sign-in form's CSRF token (double submit) before
// there is a session.
const preCookie = "toolgate-console-pre"

func (c cookies) set(w http.ResponseWriter, name, value, path string, maxAge time.Duration, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: site,
	})
}

func (c cookies) clear(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}
