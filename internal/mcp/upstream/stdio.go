package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/credential/scrub"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/internal/mcp/stdio"
)

// StdioOptions configure a stdio server the gateway starts.
type StdioOptions struct {
	Name    string
	Command []string
	Env     []string
	Dir     string
	// Shared runs one process for every client session; otherwise each
	// session gets a process of its own.
	Shared          bool
	MaxMessageBytes int
	ShutdownTimeout time.Duration
	// MaxBackoff bounds the wait between restarts of a server that keeps
	// exiting (default 30s; the first restart waits 250ms, then it doubles).
	MaxBackoff time.Duration
	Stderr     io.Writer
	Log        *slog.Logger
	// Scrub holds the upstream secrets toolgate brokers (nil: none): they
	// are masked in everything the server sends (internal/credential).
	Scrub *scrub.Set
}

// Stdio is an MCP server the gateway runs as a child process, restarted
// with backoff when it exits. A restarted server is initialized again with
// the client's initialize request before anything else reaches it, so a
// session outlives a crash of its server (its server-side state does not).
type Stdio struct {
	o      StdioOptions
	shared *proc // Shared: the one process
	seq    atomic.Uint64
}

// NewStdio checks the options. A shared server starts with the first
// session.
func NewStdio(o StdioOptions) (*Stdio, error) {
	if len(o.Command) == 0 {
		return nil, errors.New("upstream: no command")
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 64 << 20
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	u := &Stdio{o: o}
	if o.Shared {
		u.shared = newProc(u)
	}
	return u, nil
}

// Ready reports a shared server that exited and is waiting to restart.
func (u *Stdio) Ready() error {
	if u.shared != nil {
		return u.shared.health()
	}
	return nil
}

// Close stops the shared server.
func (u *Stdio) Close() error {
	if u.shared != nil {
		u.shared.stop()
	}
	return nil
}

// Open implements Upstream.
func (u *Stdio) Open(ctx context.Context, unrelated func([]byte)) (Conn, error) {
	c := &stdioConn{u: u, unrelated: unrelated, n: u.seq.Add(1)}
	if u.shared != nil {
		c.p = u.shared
	} else {
		c.p = newProc(u)
	}
	c.p.attach(c)
	return c, nil
}

// proc is one child process and the requests in flight to it.
type proc struct {
	u *Stdio

	mu       sync.Mutex
	p        *stdio.Process
	lastErr  error     // how the last process ended
	notUntil time.Time // no restart before
	backoff  time.Duration
	started  time.Time
	stopped  bool
	// initReq and initRes are the first initialize request (replayed to a
	// restarted server) and its result (answered to later sessions of a
	// shared server).
	initReq  map[string]json.RawMessage
	initRes  json.RawMessage
	initDone bool
	// initNotified: a shared server has had notifications/initialized.
	initNotified bool
	pending      map[string]*pendingCall // by the id as sent to the server
	conns        map[*stdioConn]bool
	ownSeq       uint64
	lastCaller   *stdioConn // the session that sent the latest request
}

type pendingCall struct {
	conn    *stdioConn
	id      json.RawMessage // the client's id, put back in the response
	token   string          // progress token of the request, if any
	related func([]byte)
	done    chan []byte
}

func newProc(u *Stdio) *proc {
	return &proc{u: u, pending: map[string]*pendingCall{}, conns: map[*stdioConn]bool{}}
}

func (p *proc) attach(c *stdioConn) {
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
}

func (p *proc) health() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil && p.lastErr != nil {
		return fmt.Errorf("the MCP server %q exited (%v); it is restarted when next needed", p.u.o.Name, p.lastErr)
	}
	return nil
}

// running returns the process, starting it (after the backoff) if it is not
// running. A restarted server is initialized again first.
func (p *proc) running(ctx context.Context) (*stdio.Process, error) {
	p.mu.Lock()
	for {
		if p.stopped {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.p != nil {
			sp := p.p
			p.mu.Unlock()
			return sp, nil
		}
		wait := time.Until(p.notUntil)
		if wait <= 0 {
			break
		}
		p.mu.Unlock()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("the MCP server %q exited and is waiting to restart: %w", p.u.o.Name, ctx.Err())
		}
		p.mu.Lock()
	}
	sp, err := stdio.StartProcess(p.u.o.Command, p.u.o.Env, p.u.o.Dir, p.u.o.Stderr, p.u.o.MaxMessageBytes)
	if err != nil {
		p.failedStart(err)
		p.mu.Unlock()
		return nil, err
	}
	p.p, p.started = sp, time.Now()
	replay := p.initReq != nil
	p.mu.Unlock()
	p.u.o.Log.Info("started the MCP server", "server", p.u.o.Name, "command", p.u.o.Command)
	go p.read(sp)
	if replay {
		if err := p.reinitialize(ctx, sp); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// failedStart schedules the next attempt (p.mu held).
func (p *proc) failedStart(err error) {
	p.lastErr = err
	if p.backoff == 0 || time.Since(p.started) > 2*p.u.o.MaxBackoff {
		p.backoff = 250 * time.Millisecond
	} else {
		p.backoff = min(p.backoff*2, p.u.o.MaxBackoff)
	}
	p.notUntil = time.Now().Add(p.backoff)
}

// reinitialize replays the session's initialize to a restarted server.
func (p *proc) reinitialize(ctx context.Context, sp *stdio.Process) error {
	p.mu.Lock()
	p.ownSeq++
	id := json.RawMessage(strconv.Quote("toolgate-init-" + strconv.FormatUint(p.ownSeq, 10)))
	req := map[string]json.RawMessage{}
	for k, v := range p.initReq {
		req[k] = v
	}
	req["id"] = id
	key, _ := jsonrpc.IDKey(id)
	pc := &pendingCall{done: make(chan []byte, 1), related: func([]byte) {}}
	p.pending[key] = pc
	p.mu.Unlock()
	raw, _ := json.Marshal(req)
	if err := sp.In.Write(raw); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case b := <-pc.done:
		if b == nil {
			return errors.New("the restarted MCP server exited during initialize")
		}
	case <-ctx.Done():
		return fmt.Errorf("the restarted MCP server did not answer initialize: %w", ctx.Err())
	}
	return sp.In.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
}

// read routes the server's messages until it exits.
func (p *proc) read(sp *stdio.Process) {
	for {
		line, err := sp.Out.Next()
		var tl *jsonrpc.TooLargeError
		if errors.As(err, &tl) {
			p.u.o.Log.Error("dropped a message from the MCP server larger than the limit", "server", p.u.o.Name, "error", err)
			continue
		}
		if err != nil {
			break
		}
		// Brokered secrets never go further than the server, whatever it
		// echoes.
		line = p.u.o.Scrub.Bytes(line)
		m, err := parseServer(line, p.u.o.MaxMessageBytes)
		if err != nil {
			p.u.o.Log.Warn("dropped a line from the MCP server that is not a JSON-RPC message", "server", p.u.o.Name, "error", err)
			continue
		}
		p.route(m)
	}
	sp.Stop(p.u.o.ShutdownTimeout)
	p.mu.Lock()
	if p.p == sp {
		p.p = nil
		if !p.stopped {
			p.u.o.Log.Warn("the MCP server exited; it is restarted when next needed", "server", p.u.o.Name, "status", sp.Err())
			p.failedStart(sp.Err())
		}
	}
	pending := p.pending
	p.pending = map[string]*pendingCall{}
	p.mu.Unlock()
	for _, pc := range pending {
		close(pc.done)
	}
}

// route sends a server message to the session it belongs to: a response to
// its request; a progress notification to the request with its token;
// anything else to the session of the latest request while one is in
// flight (a request of the server for sampling or elicitation is made in
// the course of a call), else to every session (a shared server) or its
// session.
func (p *proc) route(m *jsonrpc.Message) {
	p.mu.Lock()
	if m.Kind == jsonrpc.KindResponse {
		key, err := jsonrpc.IDKey(m.ID)
		pc := p.pending[key]
		if err != nil || pc == nil {
			p.mu.Unlock()
			return // an answer nobody waits for (cancelled)
		}
		delete(p.pending, key)
		p.mu.Unlock()
		out := m.Raw
		if pc.id != nil {
			out = withID(m.Raw, pc.id)
		}
		pc.done <- out
		return
	}
	var target *pendingCall
	if tok := progressToken(m); tok != "" {
		for _, pc := range p.pending {
			if pc.token == tok {
				target = pc
				break
			}
		}
	}
	if target == nil && m.Method != "notifications/progress" {
		for _, pc := range p.pending {
			if pc.conn != nil && pc.conn == p.lastCaller {
				target = pc
				break
			}
		}
	}
	var conns []*stdioConn
	if target == nil {
		for c := range p.conns {
			conns = append(conns, c)
		}
	}
	p.mu.Unlock()
	if target != nil {
		target.related(m.Raw)
		return
	}
	for _, c := range conns {
		c.unrelated(m.Raw)
	}
}

func (p *proc) stop() {
	p.mu.Lock()
	p.stopped = true
	sp := p.p
	p.mu.Unlock()
	if sp != nil {
		sp.Stop(p.u.o.ShutdownTimeout)
	}
}

// stdioConn is one client session's view of a process.
type stdioConn struct {
	u         *Stdio
	p         *proc
	unrelated func([]byte)
	n         uint64
	seq       atomic.Uint64
	closed    atomic.Bool
}

// Call implements Conn. For a shared server the request's id is replaced
// by one unique to the process, and put back in the response.
func (c *stdioConn) Call(ctx context.Context, r *Request, related func([]byte)) ([]byte, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	p := c.p
	raw := r.Raw
	if r.Method == "tools/call" {
		// The per-call credential goes in params._meta (and any the client
		// put there is removed).
		var err error
		if raw, err = stdio.WithCredential(raw, r.Cred); err != nil {
			return nil, fmt.Errorf("cannot add the per-call credential: %w", err)
		}
	}
	sentID := r.ID
	pc := &pendingCall{conn: c, related: related, done: make(chan []byte, 1), token: requestToken(r.Raw)}
	if r.Method == "initialize" {
		if cached := p.initialized(r.Raw); cached != nil {
			return withResult(r.ID, cached), nil
		}
	}
	if c.u.o.Shared {
		sentID = json.RawMessage(strconv.Quote(fmt.Sprintf("s%d-%d", c.n, c.seq.Add(1))))
		raw = withID(raw, sentID)
		pc.id = r.ID
	}
	sp, err := p.running(ctx)
	if err != nil {
		return nil, err
	}
	key, err := jsonrpc.IDKey(sentID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if _, dup := p.pending[key]; dup {
		p.mu.Unlock()
		return nil, fmt.Errorf("request id %s is already in use by a request that has not been answered yet", key[2:])
	}
	p.pending[key] = pc
	p.lastCaller = c
	p.mu.Unlock()
	if err := sp.In.Write(raw); err != nil {
		p.mu.Lock()
		delete(p.pending, key)
		p.mu.Unlock()
		return nil, fmt.Errorf("cannot send the request to the MCP server: %w", err)
	}
	select {
	case b, ok := <-pc.done:
		if !ok {
			return nil, fmt.Errorf("the MCP server %q exited without answering", c.u.o.Name)
		}
		if r.Method == "initialize" {
			p.noteInit(r.Raw, b)
		}
		return b, nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, key)
		p.mu.Unlock()
		return nil, ctx.Err()
	}
}

// initialized returns the cached initialize result of a shared server.
func (p *proc) initialized(req []byte) json.RawMessage {
	if !p.u.o.Shared {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.initDone {
		return p.initRes
	}
	return nil
}

func (p *proc) noteInit(req, resp []byte) {
	var r map[string]json.RawMessage
	var res struct {
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(req, &r) != nil || json.Unmarshal(resp, &res) != nil || res.Result == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.initReq == nil {
		p.initReq = r
	}
	if p.u.o.Shared && !p.initDone {
		p.initRes, p.initDone = res.Result, true
	}
}

// Send implements Conn. A shared server hears notifications/initialized
// once.
func (c *stdioConn) Send(ctx context.Context, msg []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.u.o.Shared && isInitialized(msg) {
		c.p.mu.Lock()
		first := !c.p.initSent()
		c.p.mu.Unlock()
		if !first {
			return nil
		}
	}
	sp, err := c.p.running(ctx)
	if err != nil {
		return err
	}
	return sp.In.Write(msg)
}

// initSent marks notifications/initialized as sent; it reports whether it
// had been before (p.mu held).
func (p *proc) initSent() bool {
	was := p.initNotified
	p.initNotified = true
	return was
}

// Close implements Conn: a session's own process is stopped; a shared one
// is left running for the others.
func (c *stdioConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
	if !c.u.o.Shared {
		c.p.stop()
	}
	return nil
}

// withID returns msg with its id replaced.
func withID(msg []byte, id json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil {
		return msg
	}
	m["id"] = id
	b, err := json.Marshal(m)
	if err != nil {
		return msg
	}
	return b
}

func withResult(id, result json.RawMessage) []byte {
	b, _ := jsonrpc.ResultResponse(id, result)
	return b
}

// requestToken is the progress token a request asks for, as a key.
func requestToken(raw []byte) string {
	var m struct {
		Params struct {
			Meta struct {
				Token json.RawMessage `json:"progressToken"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	return string(m.Params.Meta.Token)
}

func progressToken(m *jsonrpc.Message) string {
	if m.Method != "notifications/progress" {
		return ""
	}
	var p struct {
		Token json.RawMessage `json:"progressToken"`
	}
	if json.Unmarshal(m.Params, &p) != nil {
		return ""
	}
	return string(p.Token)
}
