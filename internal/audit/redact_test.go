package audit_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/audit"
)

func redactor(t testing.TB, cfg audit.RedactConfig) *audit.Redactor {
	t.Helper()
	r, err := audit.NewRedactor(cfg, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRedactCredentialShapes(t *testing.T) {
	r := redactor(t, audit.RedactConfig{})
	cases := []struct {
		in     string
		secret string // must be gone ("" = nothing to redact)
		keep   string // must stay
	}{
		{"ordinary text about tokens and passwords", "", ""},
		{"SELECT * FROM users WHERE id = 1", "", ""},
		{"use AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE", "use "},
		{"ghp_" + strings.Repeat("a1B2", 9), "ghp_" + strings.Repeat("a1B2", 9), ""},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", ""},
		{"glpat-abcdefghij0123456789", "glpat-abcdefghij0123456789", ""},
		{"xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij", ""},
		{"key sk-proj-abcdefghijklmnopqrstuvwx", "sk-proj-abcdefghijklmnopqrstuvwx", "key "},
		{"sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", ""},
		{"sk_live_abcdefghijklmnop1234", "sk_live_abcdefghijklmnop1234", ""},
		{"AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", ""},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", ""},
		{"Authorization: Bearer abc.def-ghi_jkl~mno", "abc.def-ghi_jkl~mno", "Authorization: Bearer "},
		{"Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Authorization: Basic "},
		{"postgres://app:s3cr3t@db:5432/x", "s3cr3t", "postgres://app:"},
		{"mysql -u root --password=hunter22 -h db", "hunter22", "--password="},
		{"API_KEY: 'abcd1234efgh'", "abcd1234efgh", "API_KEY: "},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA", ""},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA (cut)", "MIIEpAIBAAKCAQEA", ""},
	}
	for _, tc := range cases {
		out, changed := r.Text(tc.in)
		if tc.secret == "" {
			if changed || out != tc.in {
				t.Errorf("%q was changed to %q", tc.in, out)
			}
			continue
		}
		if strings.Contains(out, tc.secret) || !strings.Contains(out, audit.RedactedPrefix) || !changed {
			t.Errorf("%q → %q: the secret is still there", tc.in, out)
		}
		if !strings.Contains(out, tc.keep) {
			t.Errorf("%q → %q: lost %q", tc.in, out, tc.keep)
		}
		// Equal secrets, equal tokens.
		if again, _ := r.Text(tc.in); again != out {
			t.Errorf("%q: tokens differ between runs", tc.in)
		}
	}
}

func TestRedactArgumentPaths(t *testing.T) {
	r := redactor(t, audit.RedactConfig{Arguments: map[string][]string{
		"db/connect": {"auth.token", "replicas.password", "opts.*.key"},
		"db/*":       {"dsn"},
		"*":          {"everywhere"},
	}})
	in := `{"auth":{"token":"t1","user":"u"},"replicas":[{"host":"a","password":"p1"},{"host":"b","password":{"n":1}}],` +
		`"opts":{"a":{"key":"k1"},"b":{"key":"k2","other":"o"}},"dsn":"x","everywhere":42,"plain":"keep me"}`
	out := r.Arguments("db", "connect", json.RawMessage(in))
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	s := string(out)
	for _, gone := range []string{`"t1"`, `"p1"`, `"n":1`, `"k1"`, `"k2"`, `"dsn":"x"`, `42`} {
		if strings.Contains(s, gone) {
			t.Errorf("%s still in %s", gone, s)
		}
	}
	for _, kept := range []string{`"user":"u"`, `"host":"a"`, `"host":"b"`, `"other":"o"`, `"plain":"keep me"`} {
		if !strings.Contains(s, kept) {
			t.Errorf("%s lost from %s", kept, s)
		}
	}
	if want := r.Token([]byte("t1")); m["auth"].(map[string]any)["token"] != want {
		t.Errorf("token of t1 = %v, want %s (searchable from the plain value)", m["auth"].(map[string]any)["token"], want)
	}
	// Another tool of another server: only "*" applies.
	out = r.Arguments("fs", "read", json.RawMessage(`{"dsn":"x","everywhere":"y"}`))
	if !strings.Contains(string(out), `"dsn":"x"`) || strings.Contains(string(out), `"y"`) {
		t.Errorf("fs/read: %s", out)
	}
	// Nothing to redact: the very same bytes come back.
	plain := json.RawMessage(`{ "path" : "/tmp/x" }`)
	if out := r.Arguments("fs", "read", plain); &out[0] != &plain[0] {
		t.Error("unchanged arguments were copied")
	}
	// Secret-named keys are redacted without configuration.
	out = r.Arguments("x", "y", json.RawMessage(`{"Password":"p","api-key":"k","client_secret":"c","max_tokens":5}`))
	for _, gone := range []string{`"p"`, `"k"`, `"c"`} {
		if strings.Contains(string(out), gone) {
			t.Errorf("%s in %s", gone, out)
		}
	}
	if !strings.Contains(string(out), `"max_tokens":5`) {
		t.Errorf("max_tokens lost: %s", out)
	}
	// Undecodable arguments are replaced whole.
	if out := r.Arguments("x", "y", json.RawMessage(`{"a":1} trailing`)); !strings.Contains(string(out), `"_redacted"`) {
		t.Errorf("undecodable: %s", out)
	}
}

func TestRedactDetectionOff(t *testing.T) {
	off := false
	r := redactor(t, audit.RedactConfig{DetectCredentials: &off, Arguments: map[string][]string{"a/b": {"x"}}})
	out := r.Arguments("a", "b", json.RawMessage(`{"x":"s","password":"p","url":"https://u:pw@h/"}`))
	if strings.Contains(string(out), `"s"`) || !strings.Contains(string(out), `"password":"p"`) || !strings.Contains(string(out), "u:pw@h") {
		t.Errorf("%s", out)
	}
}

func TestRedactConfigErrors(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	for _, cfg := range []audit.RedactConfig{
		{Arguments: map[string][]string{"notool": {"a"}}},
		{Arguments: map[string][]string{"a/b": {"a..b"}}},
	} {
		if _, err := audit.NewRedactor(cfg, key); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := audit.NewRedactor(audit.RedactConfig{}, []byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

// FuzzRedactArguments: whatever the arguments, the redacted copy is valid
// JSON, the input is not changed, and a configured secret never survives.
func FuzzRedactArguments(f *testing.F) {
	f.Add([]byte(`{"auth":{"token":"tok"},"list":[{"secret":"s"}],"n":1}`), "tok")
	f.Add([]byte(`{"cmd":"curl -H 'Authorization: Bearer abcdefghijklmnop' https://a:b@c/"}`), "abcdefghijklmnop")
	f.Add([]byte(`[1,2,{"auth":{"token":{"deep":"x"}}}]`), "x")
	f.Add([]byte(`"just a string with AKIAIOSFODNN7EXAMPLE"`), "AKIAIOSFODNN7EXAMPLE")
	f.Add([]byte(`{"a":`), "")
	r := redactor(f, audit.RedactConfig{Arguments: map[string][]string{"s/t": {"auth.token", "list.secret"}}})
	f.Fuzz(func(t *testing.T, in []byte, secret string) {
		if !json.Valid(in) {
			return
		}
		orig := bytes.Clone(in)
		out := r.Arguments("s", "t", in)
		if !bytes.Equal(in, orig) {
			t.Fatal("the input was modified")
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
		// A value placed at a configured path never survives.
		if secret == "" || !utf8.ValidString(secret) { // JSON would change it
			return
		}
		sb, _ := json.Marshal(secret)
		doc := []byte(`{"auth":{"token":` + string(sb) + `},"other":` + string(in) + `}`)
		var m map[string]any
		json.Unmarshal(r.Arguments("s", "t", doc), &m)
		if tok := m["auth"].(map[string]any)["token"]; tok != r.Token([]byte(secret)) {
			t.Fatalf("auth.token = %v", tok)
		}
	})
}

// FuzzParseHeader: the record header parser never panics, and what it
// accepts has the seq and prev_hash it reports.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(`{"seq":1,"prev_hash":"` + audit.GenesisHash + `","type":"decision","decision_id":"d","time":"2026-11-01T00:00:00Z"}`))
	f.Add([]byte(`{"seq":01,"prev_hash":"x"}`))
	f.Add([]byte(`{"seq":2,"prev_hash":"` + audit.GenesisHash + `","seq":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := audit.ParseHeader(b)
		if err != nil {
			return
		}
		var m struct {
			Seq      uint64 `json:"seq"`
			PrevHash string `json:"prev_hash"`
		}
		if json.Unmarshal(b, &m) != nil || m.Seq != h.Seq || m.PrevHash != h.PrevHash {
			t.Fatalf("accepted %q as %+v", b, h)
		}
	})
}

func BenchmarkRedactArguments(b *testing.B) {
	r := redactor(b, audit.RedactConfig{})
	args := json.RawMessage(`{"sql":"SELECT id, name FROM customers WHERE region = $1 LIMIT 50","params":["emea"],"connection":"postgres://app:s3cret-pass@db.internal:5432/crm"}`)
	b.ReportAllocs()
	for b.Loop() {
		r.Arguments("db", "query", args)
	}
}

func BenchmarkRedactArgumentsClean(b *testing.B) {
	r := redactor(b, audit.RedactConfig{})
	args := json.RawMessage(`{"sql":"SELECT id, name FROM customers WHERE region = $1 LIMIT 50","params":["emea"],"connection":"db.internal:5432/crm"}`)
	b.ReportAllocs()
	for b.Loop() {
		r.Arguments("db", "query", args)
	}
}

// TestRedactSecretKeyNames: keys are read by their words, whatever the
// case and separators, with prefixes and suffixes around the secret word;
// the values of secret-named keys are redacted at any depth, and ordinary
// keys that merely contain a stem are not.
func TestRedactSecretKeyNames(t *testing.T) {
	r := redactor(t, audit.RedactConfig{})
	secret := []string{
		"password", "PASSWORD", "Password", "pass_word", "pass-word", "pass.word", "passwd", "pwd", "passphrase",
		"auth_token", "authToken", "AuthToken", "AUTH_TOKEN", "auth-token", "auth.token", "auth token",
		"db_password", "dbPassword", "DB_PASSWORD", "db-password", "dbpassword", "mysql_root_password",
		"x-api-key", "X-API-Key", "X-Api-Key", "x_api_key", "apiKey", "APIKey", "api.key", "apikey", "api_keys", "openaiApiKey",
		"github_token", "githubToken", "GITHUB_TOKEN", "gh-token", "pageToken", "id_token", "refresh_token", "access_token",
		"aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "awsSecretAccessKey", "aws_access_key_id", "secretAccessKey",
		"userPassword", "user_password", "UserPassword", "newPassword", "password_confirmation", "passwords",
		"X-Auth-Token", "x-auth-token", "Authorization", "proxy-authorization", "Proxy-Authorization",
		"client_secret", "clientSecret", "topsecret", "secrets", "webhook_secret", "SECRET_KEY", "private_key",
		"privateKey", "ssh_key", "signing_key", "encryptionKey", "master-key", "session_key",
		"credentials", "credential", "gcpCredentials", "cookie", "Set-Cookie", "cookies", "jwt", "id_jwt",
		"oauth2Token", "OAuth2Token", "token", "bearer_token", "SlackBotToken", "HTTP_PASSWORD",
		// A secret word is enough, whatever follows: redacting a count
		// loses a detail, missing a secret leaks it.
		"token_count", "password_policy_url",
		// Long keys are read whole.
		"a_very_long_prefix_that_goes_on_and_on_and_on_database_password",
	}
	for _, k := range secret {
		for _, doc := range []string{
			`{"` + k + `":"hunter2hunter2"}`,
			`{"outer":{"headers":{"` + k + `":"hunter2hunter2"}}}`,
			`{"list":[{"x":1},{"` + k + `":"hunter2hunter2"}]}`,
		} {
			out := string(r.Arguments("s", "t", json.RawMessage(doc)))
			if strings.Contains(out, "hunter2hunter2") || !strings.Contains(out, audit.RedactedPrefix) {
				t.Errorf("key %q: %s → %s", k, doc, out)
			}
		}
	}
	plain := []string{
		"max_tokens", "maxTokens", "tokens", "tokenizer", "key", "keys", "primary_key_column",
		"monkey", "keyword", "secretary", "passage", "compass", "bypass", "path", "author", "auth_method",
		"cwd", "name", "id", "query", "content",
	}
	for _, k := range plain {
		doc := `{"` + k + `":"hunter2hunter2"}`
		if out := string(r.Arguments("s", "t", json.RawMessage(doc))); out != doc {
			t.Errorf("key %q was redacted: %s", k, out)
		}
	}
}
