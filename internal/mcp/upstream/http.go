package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/credential/scrub"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/redirect"
)

// HTTPOptions configure a remote Streamable HTTP server.
type HTTPOptions struct {
	Name string
	URL  string
	// Client sends the requests (default: a client without overall timeout,
	// since SSE streams are long). Redirects are never followed, whatever
	// the client's own policy.
	Client *http.Client
	// Credential is CredentialTxnToken (default) or CredentialBearer.
	Credential string
	// MaxMessageBytes bounds one message from the server.
	MaxMessageBytes int
	// Header is added to every request (static upstream configuration).
	Header http.Header
	Log    *slog.Logger
	// Scrub holds the upstream secrets toolgate brokers (nil: none): they
	// are masked in everything the server sends back (internal/credential).
	Scrub *scrub.Set
	// Secrets returns the headers with the secrets toolgate brokers for the
	// server (nil: none). Every request carries them — initialize and
	// tools/list too, which a server that wants a key asks for as well; a
	// request whose secrets cannot be read is not sent.
	Secrets func(ctx context.Context) (map[string]string, error)
}

// HTTP is a remote MCP server spoken to over Streamable HTTP.
type HTTP struct {
	o       HTTPOptions
	ownsClt bool // the client is NewHTTP's own: Close lets its connections go
}

// NewHTTP checks the options.
func NewHTTP(o HTTPOptions) (*HTTP, error) {
	if o.URL == "" {
		return nil, errors.New("upstream: no URL")
	}
	owns := o.Client == nil
	if owns {
		o.Client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	// A redirect would re-send the call — its body, the per-call token and
	// the brokered secrets — to wherever the server points: none is
	// followed, whichever client sends (the call fails as an upstream
	// failure).
	o.Client = redirect.Client(o.Client, redirect.Never)
	if o.Credential == "" {
		o.Credential = CredentialTxnToken
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 64 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &HTTP{o: o, ownsClt: owns}, nil
}

// SetCredential puts an allowed call's per-call credential on the upstream
// request, the one place where it leaves toolgate (docs/design.md, "Interfaces": Txn-Token, or
// Authorization: Bearer for upstreams that take OAuth access tokens),
// together with the secrets toolgate brokers for the server (as headers) and
// an access token from token exchange (Authorization: Bearer, beside the
// Txn-Token). The client's own token never gets here: requests to the
// upstream are built from scratch, and no header of the client's request is
// copied. The configuration keeps these from taking the same header
// (credential.Config.ValidateServers); the per-call token is set last, so
// it is never replaced.
func SetCredential(h http.Header, cred *call.Credential, mode string) {
	if cred == nil {
		return
	}
	for k, v := range cred.Header {
		h.Set(k, v)
	}
	if cred.AccessToken != "" {
		h.Set("Authorization", "Bearer "+cred.AccessToken)
	}
	if cred.Token == "" {
		return
	}
	switch mode {
	case CredentialBearer:
		h.Set("Authorization", "Bearer "+cred.Token)
	default:
		h.Set("Txn-Token", cred.Token)
	}
}

// Ready is nil: a remote server is reached per session (its failures deny
// the calls that need it).
func (u *HTTP) Ready() error { return nil }

// Close lets the idle connections of its own client go (sessions close
// themselves).
func (u *HTTP) Close() error {
	if u.ownsClt {
		u.o.Client.CloseIdleConnections()
	}
	return nil
}

// Open starts a session; the server's session id is learned from its answer
// to initialize.
func (u *HTTP) Open(ctx context.Context, unrelated func([]byte)) (Conn, error) {
	if u.o.Scrub != nil {
		inner := unrelated
		unrelated = func(msg []byte) { inner(u.o.Scrub.Bytes(msg)) }
	}
	c := &httpConn{u: u, unrelated: unrelated, waiting: map[string]chan []byte{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

type httpConn struct {
	u         *HTTP
	unrelated func([]byte)
	ctx       context.Context // the session's life
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu        sync.Mutex
	session   string // Mcp-Session-Id
	version   string // negotiated protocol version
	listening bool   // the GET stream was started
	closed    bool
	// waiting are the requests whose response may come on another stream
	// than their POST's (after a resumption), by id key.
	waiting map[string]chan []byte
}

func (c *httpConn) newRequest(ctx context.Context, method string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.u.o.URL, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range c.u.o.Header {
		req.Header[k] = v
	}
	if c.u.o.Secrets != nil {
		h, err := c.u.o.Secrets(ctx)
		if err != nil {
			return nil, fmt.Errorf("the secrets toolgate holds for the MCP server %q cannot be read: %w", c.u.o.Name, err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if method == http.MethodGet {
		req.Header.Set("Accept", "text/event-stream")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.mu.Lock()
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	if c.version != "" {
		req.Header.Set("MCP-Protocol-Version", c.version)
	}
	c.mu.Unlock()
	return req, nil
}

// Call implements Conn. What the server sends back — the response, related
// messages, an HTTP error's text — is cleaned of the secrets toolgate
// brokers and of the credential the request carried, so a server that
// echoes them cannot pass them to the client, the logs or the audit trail.
func (c *httpConn) Call(ctx context.Context, r *Request, related func([]byte)) ([]byte, error) {
	if c.u.o.Scrub == nil && r.Cred == nil {
		return c.call(ctx, r, related)
	}
	var own []string
	if r.Cred != nil {
		own = append(own, r.Cred.Token, r.Cred.AccessToken)
		for _, v := range r.Cred.Header {
			own = append(own, v)
		}
	}
	clean := func(b []byte) []byte { return scrub.Values(c.u.o.Scrub.Bytes(b), own...) }
	out, err := c.call(ctx, r, func(msg []byte) { related(clean(msg)) })
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			se.Message = string(clean([]byte(se.Message)))
		} else if cleaned := string(clean([]byte(err.Error()))); cleaned != err.Error() {
			err = errors.New(cleaned)
		}
		return nil, err
	}
	return clean(out), nil
}

func (c *httpConn) call(ctx context.Context, r *Request, related func([]byte)) ([]byte, error) {
	key, err := jsonrpc.IDKey(r.ID)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.waiting[key] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, key)
		c.mu.Unlock()
	}()

	req, err := c.newRequest(ctx, http.MethodPost, r.Raw)
	if err != nil {
		return nil, err
	}
	SetCredential(req.Header, r.Cred, c.u.o.Credential)
	resp, err := c.u.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the MCP server %q: %w", c.u.o.Name, err)
	}
	defer resp.Body.Close()
	if err := httpError(resp); err != nil {
		return nil, err
	}
	if r.Method == "initialize" {
		if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
			c.mu.Lock()
			c.session = sid
			c.mu.Unlock()
		}
	}
	var out []byte
	switch mediaType(resp.Header.Get("Content-Type")) {
	case "application/json":
		body, err := readBounded(resp.Body, c.u.o.MaxMessageBytes)
		if err != nil {
			return nil, err
		}
		m, err := parseServer(body, c.u.o.MaxMessageBytes)
		if err != nil {
			return nil, err
		}
		if m.Kind != jsonrpc.KindResponse || !sameID(m.ID, key) {
			return nil, errors.New("the MCP server answered with another message than the response to the request")
		}
		out = m.Raw
	case "text/event-stream":
		out, err = c.readStream(ctx, resp.Body, key, ch, related)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the MCP server answered with content type %q", resp.Header.Get("Content-Type"))
	}
	if r.Method == "initialize" {
		c.noteVersion(out)
	}
	return out, nil
}

// readStream reads a POST's event stream up to the response to key. If the
// stream ends before it, and the server gave event ids, the stream is
// resumed with GET and Last-Event-ID (the server's resumability). Every
// stream it reads is closed when it returns (the caller closes the POST's
// body too; closing twice is harmless).
func (c *httpConn) readStream(ctx context.Context, body io.ReadCloser, key string, ch chan []byte, related func([]byte)) ([]byte, error) {
	lastID := ""
	retry := time.Duration(0)
	for attempt := 0; ; attempt++ {
		var answer []byte
		c.eachMessage(body, &lastID, &retry, func(m *jsonrpc.Message) bool {
			switch {
			case m.Kind == jsonrpc.KindResponse && sameID(m.ID, key):
				answer = m.Raw
				return true
			case m.Kind == jsonrpc.KindResponse && c.deliverWaiting(m):
			default:
				related(m.Raw)
			}
			return false
		})
		body.Close()
		if answer != nil {
			return answer, nil
		}
		// Did the response arrive on another stream meanwhile?
		select {
		case b := <-ch:
			return b, nil
		default:
		}
		if lastID == "" || attempt >= 5 || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, errors.New("the MCP server closed the stream before it answered the request")
		}
		if retry <= 0 {
			retry = 100 * time.Millisecond
		}
		select {
		case <-time.After(min(retry, 5*time.Second)):
		case b := <-ch:
			return b, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		req, err := c.newRequest(ctx, http.MethodGet, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Last-Event-ID", lastID)
		resp, err := c.u.o.Client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("cannot resume the MCP server's stream: %w", err)
		}
		if err := httpError(resp); err != nil {
			resp.Body.Close()
			return nil, err
		}
		if mediaType(resp.Header.Get("Content-Type")) != "text/event-stream" {
			resp.Body.Close()
			return nil, errors.New("the MCP server did not resume its stream")
		}
		body = resp.Body
	}
}

// eachMessage reads an event stream to its end, keeping the last event id
// and the server's retry hint, and hands each valid message to fn, until
// fn returns true.
func (c *httpConn) eachMessage(body io.Reader, lastID *string, retry *time.Duration, fn func(*jsonrpc.Message) bool) {
	rd := NewSSEReader(body, c.u.o.MaxMessageBytes)
	for {
		ev, err := rd.Next()
		if err != nil {
			return
		}
		if ev.HasID {
			*lastID = ev.ID
		}
		if ev.Retry > 0 {
			*retry = ev.Retry
		}
		if len(ev.Data) == 0 {
			continue
		}
		m, err := parseServer(ev.Data, c.u.o.MaxMessageBytes)
		if err != nil {
			c.u.o.Log.Warn("dropped an invalid message from the MCP server", "server", c.u.o.Name, "error", err)
			continue
		}
		if fn(m) {
			return
		}
	}
}

// deliverWaiting hands a response to the Call waiting for it, if any.
func (c *httpConn) deliverWaiting(m *jsonrpc.Message) bool {
	key, err := jsonrpc.IDKey(m.ID)
	if err != nil {
		return false
	}
	c.mu.Lock()
	ch := c.waiting[key]
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- m.Raw:
	default:
	}
	return true
}

// Send implements Conn.
func (c *httpConn) Send(ctx context.Context, msg []byte) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	req, err := c.newRequest(ctx, http.MethodPost, msg)
	if err != nil {
		return err
	}
	resp, err := c.u.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the MCP server %q: %w", c.u.o.Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err := httpError(resp); err != nil {
		return err
	}
	if isInitialized(msg) {
		c.listen()
	}
	return nil
}

func isInitialized(msg []byte) bool {
	var m struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(msg, &m) == nil && m.Method == "notifications/initialized"
}

// listen opens the GET stream for what the server sends on its own, once
// the session is initialized, and keeps it open (resuming with
// Last-Event-ID) until the session closes. A server without one answers
// 405, and nothing more is tried.
func (c *httpConn) listen() {
	c.mu.Lock()
	if c.listening || c.closed {
		c.mu.Unlock()
		return
	}
	c.listening = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		lastID := ""
		backoff := 100 * time.Millisecond
		for c.ctx.Err() == nil {
			req, err := c.newRequest(c.ctx, http.MethodGet, nil)
			if err != nil {
				return
			}
			if lastID != "" {
				req.Header.Set("Last-Event-ID", lastID)
			}
			resp, err := c.u.o.Client.Do(req)
			if err == nil && resp.StatusCode == http.StatusMethodNotAllowed {
				resp.Body.Close()
				return
			}
			if err == nil && resp.StatusCode == http.StatusOK && mediaType(resp.Header.Get("Content-Type")) == "text/event-stream" {
				backoff = 100 * time.Millisecond
				c.eachMessage(resp.Body, &lastID, &backoff, func(m *jsonrpc.Message) bool {
					if m.Kind != jsonrpc.KindResponse || !c.deliverWaiting(m) {
						c.unrelated(m.Raw)
					}
					return false
				})
			}
			if resp != nil {
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode >= 400 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
				return // the server will not give a stream to this session
			}
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
		}
	}()
}

// Close implements Conn: the server's session is deleted (a server that
// does not allow it answers 405, which is fine).
func (c *httpConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	session := c.session
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if session == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodDelete, nil)
	if err != nil {
		return err
	}
	resp, err := c.u.o.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (c *httpConn) noteVersion(resp []byte) {
	var m struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(resp, &m) == nil && m.Result.ProtocolVersion != "" {
		c.mu.Lock()
		c.version = m.Result.ProtocolVersion
		c.mu.Unlock()
	}
}

// httpError turns a failed HTTP answer into an error with its reason.
func httpError(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := string(bytes.TrimSpace(body))
	if resp.StatusCode == http.StatusNotFound {
		return &StatusError{Status: resp.StatusCode, Message: "the MCP server does not know the session (it may have restarted): " + msg}
	}
	return &StatusError{Status: resp.StatusCode, Message: msg}
}

// StatusError is an HTTP error from the upstream.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the MCP server answered HTTP %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

func readBounded(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("the MCP server's message is larger than the limit of %d bytes", limit)
	}
	return b, nil
}

// parseServer reads one message from the server. The server's messages are
// routed, not judged: no structure walk (jsonrpc.Limits.MaxDepth 0).
func parseServer(b []byte, limit int) (*jsonrpc.Message, error) {
	f, perr := jsonrpc.Parse(b, jsonrpc.Limits{MaxBytes: limit})
	if perr != nil {
		return nil, perr
	}
	if f.Batch || f.Items[0].Err != nil {
		return nil, errors.New("the MCP server sent a batch or an invalid message")
	}
	return f.Items[0].Msg, nil
}

func sameID(id json.RawMessage, key string) bool {
	k, err := jsonrpc.IDKey(id)
	return err == nil && k == key
}
