package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"sync"
)

// RedactConfig says which argument values never reach the audit trail in the
// clear. A redacted value is replaced by a keyed hash of it (see Token), so
// records that carried the same secret can still be found together.
type RedactConfig struct {
	// Arguments maps "<server>/<tool>" to the paths of its secret arguments.
	// A path is dot-separated object keys ("auth.token"); "*" matches any
	// key; arrays are transparent ("items.password" is the password of
	// every element of items). "<server>/*" and "*" match every tool of a
	// server and every tool.
	Arguments map[string][]string `yaml:"arguments"`
	// DetectCredentials turns the built-in detection of credential-like
	// strings and secret-named keys on (default) or off.
	DetectCredentials *bool `yaml:"detect_credentials"`
}

// RedactedPrefix starts every replacement token.
const RedactedPrefix = "[redacted:"

// Redactor replaces secrets in records. It never changes its input: the
// arguments the policy engine and the upstream see are the caller's; only
// the record gets a redacted copy.
type Redactor struct {
	key    []byte
	detect bool
	paths  map[string][][]string // tool key → paths split into segments
	macs   sync.Pool             // of hash.Hash: HMAC-SHA256 with key, reused
}

// NewRedactor checks cfg and builds a redactor with the HMAC key.
func NewRedactor(cfg RedactConfig, key []byte) (*Redactor, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("audit: redaction key too short (%d bytes)", len(key))
	}
	r := &Redactor{key: key, detect: cfg.DetectCredentials == nil || *cfg.DetectCredentials, paths: map[string][][]string{}}
	for tool, paths := range cfg.Arguments {
		if tool != "*" && !strings.Contains(tool, "/") {
			return nil, fmt.Errorf("audit.redact.arguments: %q is not <server>/<tool>, <server>/* or *", tool)
		}
		for _, p := range paths {
			segs := strings.Split(p, ".")
			for _, s := range segs {
				if s == "" {
					return nil, fmt.Errorf("audit.redact.arguments[%q]: path %q has an empty segment", tool, p)
				}
			}
			r.paths[tool] = append(r.paths[tool], segs)
		}
	}
	return r, nil
}

// Token is the replacement of a secret value: "[redacted:" + the first 128
// bits of HMAC-SHA256(key, value) in hex + "]". Equal values give equal
// tokens; without the key nobody can test a guess against a token.
func (r *Redactor) Token(value []byte) string {
	m, _ := r.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, r.key)
	}
	m.Reset()
	m.Write(value)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	r.macs.Put(m)
	return RedactedPrefix + hex.EncodeToString(sum[:16]) + "]"
}

// Arguments returns args with every secret replaced. It returns args itself
// when nothing needed replacing. Arguments that cannot be decoded are
// replaced whole by their token: a record must never leak what it could not
// inspect.
func (r *Redactor) Arguments(server, tool string, args json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return args
	}
	var paths [][]string
	for _, k := range []string{"*", server + "/*", server + "/" + tool} {
		paths = append(paths, r.paths[k]...)
	}
	if len(paths) == 0 && (!r.detect || r.clean(args)) {
		return args
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return r.whole(args)
	}
	out, changed := r.walk(v, paths)
	if !changed {
		return args
	}
	b, err := json.Marshal(out)
	if err != nil {
		return r.whole(args)
	}
	return b
}

// clean reports, from the raw bytes alone, that detection cannot find
// anything in args: no hint of a credential pattern and no stem of a
// secret key name occurs anywhere in it. Most arguments are clean, and this
// spares them the decoding. It is conservative: JSON escapes could hide a
// hint (`\/`, `\u0070`), so any backslash means "not known to be clean".
func (r *Redactor) clean(args []byte) bool {
	if bytes.IndexByte(args, '\\') >= 0 {
		return false
	}
	lower := toLowerASCII(string(args))
	// Key names are compared without their separators ("pass_word" is a
	// password): look for the stems in a copy without them.
	squashed := squash(lower)
	for _, stem := range secretKeyStems {
		if strings.Contains(squashed, stem) {
			return false
		}
	}
	if strings.Contains(lower, "://") {
		return false
	}
	for _, p := range credentialPatterns {
		if hasHint(lower, p.hints) {
			return false
		}
	}
	return true
}

// secretKeyStems: every name secretKey accepts contains one of these, so
// text without any (separators dropped, see squash) has no secret key.
var secretKeyStems = []string{"pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "jwt"}

func (r *Redactor) whole(args []byte) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"_redacted": r.Token(args)})
	return b
}

// walk redacts v; paths are the secret paths still to match below v.
func (r *Redactor) walk(v any, paths [][]string) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		changed := false
		for k, child := range x {
			var sub [][]string
			secret := r.detect && secretKey(k)
			for _, p := range paths {
				if p[0] == k || p[0] == "*" {
					if len(p) == 1 {
						secret = true
					} else {
						sub = append(sub, p[1:])
					}
				}
			}
			if secret {
				x[k] = r.Token(valueBytes(child))
				changed = true
				continue
			}
			if nv, ch := r.walk(child, sub); ch {
				x[k] = nv
				changed = true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, child := range x {
			if nv, ch := r.walk(child, paths); ch {
				x[i] = nv
				changed = true
			}
		}
		return x, changed
	case string:
		if !r.detect {
			return x, false
		}
		s, ch := r.Text(x)
		return s, ch
	default:
		return v, false
	}
}

// valueBytes is what a secret value's token is computed over: a string's
// own bytes (so a token can be computed from the plain secret), any other
// value's JSON encoding.
func valueBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, _ := json.Marshal(v)
	return b
}

// Text replaces the credential-like parts of s (when detection is on) and
// reports whether it changed anything.
func (r *Redactor) Text(s string) (string, bool) {
	if !r.detect || len(s) < 8 {
		return s, false
	}
	lower := toLowerASCII(s)
	out := s
	if strings.Contains(out, "://") {
		out = r.urlPasswords(out)
	}
	for _, p := range credentialPatterns {
		if hasHint(lower, p.hints) {
			out = replaceGroup(p.re, out, r)
		}
	}
	return out, out != s
}

// urlPasswords replaces the password of every URL with one
// (scheme://user:password@host). A scan rather than a regular expression:
// URLs are common in arguments and this runs on every one of them.
func (r *Redactor) urlPasswords(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		auth := rest[i+3:]
		// The authority ends at the first '/', '?', '#' or space; the user
		// information is what comes before its last '@'.
		end := strings.IndexAny(auth, "/?# \t\r\n\"'")
		if end < 0 {
			end = len(auth)
		}
		at := strings.LastIndexByte(auth[:end], '@')
		colon := -1
		if at > 0 {
			colon = strings.IndexByte(auth[:at], ':')
		}
		if colon < 0 || colon+1 >= at || strings.HasPrefix(auth[colon+1:], RedactedPrefix) {
			b.WriteString(rest[:i+3])
			rest = auth
			continue
		}
		b.WriteString(rest[:i+3])
		b.WriteString(auth[:colon+1])
		b.WriteString(r.Token([]byte(auth[colon+1 : at])))
		rest = auth[at:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

// replaceGroup replaces, in each match of p, submatch 1 if p has one (the
// secret part, e.g. the token after "Bearer "), else the whole match.
func replaceGroup(p *regexp.Regexp, s string, r *Redactor) string {
	idx := p.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		start, end := m[0], m[1]
		if len(m) >= 4 && m[2] >= 0 {
			start, end = m[2], m[3]
		}
		if strings.HasPrefix(s[start:], RedactedPrefix) {
			continue // already a token (an earlier pattern matched it)
		}
		b.WriteString(s[last:start])
		b.WriteString(r.Token([]byte(s[start:end])))
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// secretNames are the words that make a key name a secret (see secretKey).
// Each contains one of secretKeyStems.
var secretNames = []string{
	"password", "passwords", "passwd", "pwd", "passphrase", "secret", "secrets", "token",
	"credential", "credentials", "cookie", "cookies", "authorization", "jwt",
	"apikey", "apikeys", "accesskey", "privatekey", "secretkey", "sessionkey", "signingkey",
	"encryptionkey", "masterkey", "sshkey",
}

// secretKey tells whether an object key names a secret by itself. The key
// is read as words — split at every character that is not an ASCII letter
// or digit ("_", "-", ".", " ", …) and where camelCase changes case
// ("userPassword", "XAuthToken", "APIKey") — in lower case. It names a
// secret when one of these ends with a secret name:
//   - a word ("db_password", "githubToken", "X-Auth-Token", "topsecret");
//   - two adjacent words run together ("x-api-key", "private.key",
//     "aws_access_key_id", "pass_word");
//   - the whole key without separators ("github_token", "pass.word").
//
// So "auth_token", "db_password", "x-api-key", "aws_secret_access_key",
// "userPassword" and "X-Auth-Token" are secrets; "max_tokens", "key",
// "tokenizer" and "secretary" are not.
func secretKey(k string) bool {
	if endsWithSecret(squash(toLowerASCII(k))) {
		return true
	}
	prev := ""
	for _, w := range words(k) {
		if endsWithSecret(w) || (prev != "" && endsWithSecret(prev+w)) {
			return true
		}
		prev = w
	}
	return false
}

func endsWithSecret(s string) bool {
	for _, n := range secretNames {
		if strings.HasSuffix(s, n) {
			return true
		}
	}
	return false
}

// squash drops every ASCII character that is not a letter or a digit
// (bytes of other characters stay).
func squash(s string) string {
	keep := func(c byte) bool {
		return c >= 0x80 || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
	}
	i := 0
	for i < len(s) && keep(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s[:i])
	for ; i < len(s); i++ {
		if keep(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// words splits a key into lower-case words: at ASCII characters that are
// neither letters nor digits, before an upper-case letter that follows a
// lower-case letter or a digit ("userPassword"), and before the last
// upper-case letter of a run followed by a lower-case one ("APIKey").
func words(k string) []string {
	var out []string
	var w []byte
	flush := func() {
		if len(w) > 0 {
			out = append(out, toLowerASCII(string(w)))
			w = w[:0]
		}
	}
	isUpper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	isLower := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c >= 0x80 }
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case !isUpper(c) && !isLower(c):
			flush()
			continue
		case isUpper(c) && i > 0 && isLower(k[i-1]) && k[i-1] < 0x80:
			flush()
		case isUpper(c) && i > 0 && isUpper(k[i-1]) && i+1 < len(k) && isLower(k[i+1]) && k[i+1] < 0x80:
			flush()
		}
		w = append(w, c)
	}
	flush()
	return out
}

// credentialPattern recognises one kind of credential by its shape. Each is
// specific enough not to eat ordinary text; where a prefix says what
// follows (Bearer, a URL's user), submatch 1 is the secret and only it is
// replaced. hints are literal pieces (lower case) of which every match
// contains one: text that has none of them skips the regular expression,
// which is what keeps redaction cheap for the text that has no credential
// (most of it).
type credentialPattern struct {
	re    *regexp.Regexp
	hints []string
}

var credentialPatterns = []credentialPattern{
	// PEM private keys (RSA, EC, OPENSSH, PKCS#8, encrypted).
	{regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`), []string{"-----begin "}},
	// JSON Web Tokens (header.payload.signature, base64url, header starts {").
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`), []string{"eyj"}},
	// Bearer tokens, and Basic credentials after "Authorization:" (alone,
	// "basic" is too common a word).
	{regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{12,})`), []string{"bearer"}},
	{regexp.MustCompile(`(?i)\bauthorization\s*[:=]\s*["']?basic\s+([A-Za-z0-9+/=]{8,})`), []string{"authorization"}},
	// AWS access key ids.
	{regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b`), []string{"akia", "asia", "abia", "acca"}},
	// GitHub tokens (classic and fine-grained).
	{regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b`), []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}},
	// GitLab personal access tokens.
	{regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}\b`), []string{"glpat-"}},
	// Slack tokens.
	{regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}\b`), []string{"xox"}},
	// OpenAI and Anthropic keys (sk-…, sk-proj-…, sk-ant-…).
	{regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{20,}\b`), []string{"sk-"}},
	// Stripe secret and restricted keys.
	{regexp.MustCompile(`\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b`), []string{"k_live_", "k_test_"}},
	// Google API keys.
	{regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`), []string{"aiza"}},
	// Assignments in text: password=…, api_key: …, secret=… (e.g. in a
	// command line or a connection string).
	{regexp.MustCompile(`(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|client[_-]?secret)\s*[=:]\s*["']?([^\s"'&;,]{4,})`),
		[]string{"password", "passwd", "pwd", "secret", "apikey", "api_key", "api-key", "access_token", "access-token", "accesstoken"}},
}

// hasHint reports whether lower (lower-cased text) contains one of hints.
func hasHint(lower string, hints []string) bool {
	for _, h := range hints {
		if strings.Contains(lower, h) {
			return true
		}
	}
	return false
}

// toLowerASCII lower-cases ASCII letters only (the hints are ASCII), and
// returns s itself when it has none to change.
func toLowerASCII(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}
