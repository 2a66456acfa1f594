// Package e2e tests the console end to end in a real headless Chromium
// (Debian's chromium, driven with chromedp): the toolgate binary as
// `toolgate serve` in front of a scripted bank server (this test binary),
// people signing in through a real OpenID provider (zitadel's OP, in
// internal/identity/idptest) by the authorization code flow with PKCE, and
// the agent as the official Go SDK client through /mcp.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/identity/idptest"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/internal/testutil/banktest"
)

// TestMain lets the test binary be the bank (TOOLGATE_E2E_SERVER=bank).
func TestMain(m *testing.M) {
	if os.Getenv("TOOLGATE_E2E_SERVER") == "bank" {
		bankServer()
		return
	}
	os.Exit(m.Run())
}

// bankServer is the bank of banktest with a read-only balance tool.
func bankServer() {
	s := banktest.Server()
	mcp.AddTool(s, &mcp.Tool{Name: "balance", Description: "The account's balance.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "balance 1000"}}}, nil, nil
		})
	banktest.Run(s)
}

const keyBot = "tgk_bot_agent_0123456789abcdef01234567"

// People at the identity provider.
var (
	carol   = idptest.User{ID: "carol", Username: "carol", Password: "carol-pw-1", Claims: map[string]any{"groups": []string{"finance", "security"}}}
	mallory = idptest.User{ID: "mallory", Username: "mallory", Password: "mallory-pw-1"}
)

// world is serve with its data directory, the OP, and the bank's log.
type world struct {
	t       *testing.T
	dir     string
	base    string
	bankLog string
	config  string
	out     *testutil.SyncBuffer
	shots   string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir()}
	w.bankLog = filepath.Join(w.dir, "bank.log")
	port := testutil.FreePort(t)
	w.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	w.shots = os.Getenv("TOOLGATE_CONSOLE_SHOTS")
	if w.shots == "" {
		w.shots = filepath.Join(w.dir, "screenshots")
	}
	if err := os.MkdirAll(w.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", w.shots)

	op := idptest.Start(t)
	op.AddWebClient(idptest.WebClient{ID: "toolgate-console", RedirectURIs: []string{w.base + "/console/auth/callback"}})
	op.AddUser(carol)
	op.AddUser(mallory)

	policies := filepath.Join(testutil.RepoRoot(t), "internal", "console", "e2e", "testdata", "console.cedar")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: %s
log: {level: debug}
mcp: {shutdown_timeout: 1s}
policy: {dirs: [%s], watch: false}
identity:
  issuers:
    - {issuer: "%s", audience: [toolgate-console], groups_claim: groups}
  api_keys:
    - {hash: %s, kind: agent, id: bot, owner: alice}
servers:
  - {name: bank, command: %s}
approvals: {timeout: 120s, poll_interval: 50ms}
console:
  oidc: {issuer: "%s", client_id: toolgate-console, name: Example SSO}
`, port, filepath.Join(w.dir, "data"), policies, op.Issuer, identity.HashAPIKey(keyBot), os.Args[0], op.Issuer)
	w.config = filepath.Join(w.dir, "toolgate.yaml")
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) env() []string {
	return append(os.Environ(), "TOOLGATE_E2E_SERVER=bank", "BANK_LOG="+w.bankLog)
}

// serve starts `toolgate serve` and waits for it to say it serves.
func (w *world) serve() {
	w.t.Helper()
	cmd := exec.Command(testutil.Toolgate(w.t), "--config", w.config, "serve")
	cmd.Env = w.env()
	w.out = &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if w.t.Failed() {
			w.t.Logf("toolgate serve output:\n%s", w.out.String())
		}
	})
	if !w.out.WaitFor("toolgate serving", done) {
		w.t.Fatalf("serve did not start:\n%s", w.out.String())
	}
}

// headers adds the agent's key (and task token) to the Go SDK client's
// requests.
type headers struct{ h map[string]string }

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// agent connects the Go SDK client to serve's /mcp/bank as the bot, with a
// task token if given.
func (w *world) agent(taskToken string) *mcp.ClientSession {
	w.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + keyBot}
	if taskToken != "" {
		h["X-Toolgate-Task"] = taskToken
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "console-e2e", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: w.base + "/mcp/bank", HTTPClient: &http.Client{Transport: headers{h}}}
	cs, err := client.Connect(context.Background(), tr, nil)
	if err != nil {
		w.t.Fatalf("connect: %v", err)
	}
	w.t.Cleanup(func() { cs.Close() })
	return cs
}

type callResult struct {
	text string
	err  error
}

// call makes a tool call in the background.
func call(cs *mcp.ClientSession, tool string, args map[string]any) <-chan callResult {
	out := make(chan callResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			out <- callResult{err: err}
			return
		}
		var parts []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				parts = append(parts, tc.Text)
			}
		}
		s := strings.Join(parts, "\n")
		if res.IsError {
			s = "denied: " + s
		}
		out <- callResult{text: s}
	}()
	return out
}

func wait(t *testing.T, ch <-chan callResult) string {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			return "error: " + r.err.Error()
		}
		return r.text
	case <-time.After(3 * time.Minute):
		t.Fatal("the call did not end")
		return ""
	}
}

// cli runs the toolgate CLI on the world's config.
func (w *world) cli(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(testutil.Toolgate(w.t), append([]string{"--config", w.config}, args...)...)
	cmd.Env = w.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("toolgate %v: %v\n%s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// browser starts a headless Chromium of its own (its own profile: its
// own cookies) sized like a laptop, or like a phone.
func (w *world) browser(phone bool) context.Context {
	w.t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if path, err = exec.LookPath("chromium-browser"); err != nil {
			testutil.Missing(w.t, "chromium (Debian package chromium; scripts/test-deps.sh installs it)")
		}
	}
	width, height := 1280, 900
	if phone {
		width, height = 390, 844
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root here
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(w.t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	w.t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	w.t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		w.t.Fatalf("chromium does not start: %v", err)
	}
	if phone { // a window cannot be narrower than 500 pixels; a viewport can
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateMobile)); err != nil {
			w.t.Fatal(err)
		}
	}
	return ctx
}

// shot saves a PNG screenshot of the whole page.
func (w *world) shot(ctx context.Context, name string) {
	w.t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		w.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(w.shots, name+".png"), buf, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// run runs browser actions, failing the test with what the page shows.
func (w *world) run(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	// Each step is bounded (a failure, not a synchronisation), so that
	// what the page shows can still be read when one fails.
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		w.shot(ctx, "failed")
		w.t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, html)
	}
}

// text is the visible text of the first element sel finds.
func (w *world) text(ctx context.Context, sel chromedp.CSS) string {
	w.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		w.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// signIn signs a person in through the identity provider.
func (w *world) signIn(ctx context.Context, u idptest.User, shots bool) {
	w.t.Helper()
	w.run(ctx, "open the console", chromedp.Navigate(w.base+"/console/"), chromedp.WaitVisible(chromedp.ID("oidc")))
	if shots {
		w.shot(ctx, "signin")
	}
	w.run(ctx, "go to the identity provider", chromedp.Click(chromedp.ID("oidc")), chromedp.WaitVisible(chromedp.ID("username")))
	w.run(ctx, "sign in at the identity provider",
		chromedp.SendKeys(chromedp.ID("username"), u.Username),
		chromedp.SendKeys(chromedp.ID("password"), u.Password),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("person")))
	if who := w.text(ctx, "#person"); who != `User::"`+u.ID+`"` {
		w.t.Fatalf("signed in as %q, want %s", who, u.ID)
	}
}

func (w *world) payments() string {
	b, _ := os.ReadFile(w.bankLog)
	return strings.TrimSpace(string(b))
}
