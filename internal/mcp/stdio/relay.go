// Package stdio is toolgate's drop-in proxy for MCP servers that speak stdio
// (`toolgate run -- CMD`): it starts the server and relays JSON-RPC messages
// between the client (toolgate's stdin/stdout) and the server. What reaches
// the server is toolgate's own encoding of what it parsed (package jsonrpc),
// one message per line, and only what the method table allows
// (mcp.ClientRequest, mcp.ClientNotification). Enforcement acts where:
//
//   - tools/call is judged by the pipeline and forwarded only if allowed; a
//     denial is answered by toolgate and never reaches the server;
//
//   - tools/list results lose the tools the principal can never call and the
//     tools whose definition changed since it was pinned;
//
//   - notifications/tools/list_changed makes toolgate re-read the tool list
//     before the next call;
//
//   - a message from the client that is not valid JSON-RPC, too large or too
//     deeply nested is answered with a JSON-RPC error and dropped.
//
//   - a tools/call sent as a notification is never forwarded, and the
//     refusal is recorded;
//
//   - a request of a method toolgate does not know is answered "method not
//     found"; such a notification is dropped;
//
//   - a response from the client reaches the server only if it answers a
//     request of the server.
//
// The rest of the specification's methods — notifications, progress,
// cancellation, ping, resources, prompts, completion, logging, tasks,
// requests from the server to the client (sampling, elicitation, roots) —
// pass through, without the client's reserved _meta keys (toolgate/…).
package stdio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/credential/scrub"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// Options configure the relay.
type Options struct {
	// Command is the server to start: the program and its arguments.
	Command []string
	// Env is the server's environment (nil: toolgate's own).
	Env []string
	// Dir is the server's working directory ("": toolgate's own).
	Dir string
	// Gate enforces policy on the server's tools.
	Gate *gate.Gate
	// Config holds the limits and the shutdown timeout; unset fields take
	// their defaults.
	Config mcp.Config
	Log    *slog.Logger
	// Stderr receives the server's stderr (default os.Stderr): stdout is
	// for protocol messages only.
	Stderr io.Writer
	// Elicitation asks the person at the client to approve a call that
	// waits for approval (approvals.elicitation), if the client supports
	// MCP elicitation.
	Elicitation bool
	// Scrub holds the upstream secrets toolgate brokers (nil: none): they
	// are masked in everything the server sends (internal/credential).
	Scrub *scrub.Set
}

// maxBatchCalls bounds the calls of a client's batches judged at once.
const maxBatchCalls = 16

// listTimeout bounds toolgate's own tools/list requests.
const listTimeout = 30 * time.Second

// UpstreamExitError reports that the server exited (or closed its output)
// while the client was still connected.
type UpstreamExitError struct {
	Command string
	Err     error // the exit status, or why the output ended
}

func (e *UpstreamExitError) Error() string {
	return fmt.Sprintf("the MCP server %q exited while the client was connected: %v", e.Command, e.Err)
}

func (e *UpstreamExitError) Unwrap() error { return e.Err }

// errGone answers requests that the server will never answer.
var errGone = errors.New("the MCP server has exited")

type relay struct {
	o      Options
	log    *slog.Logger
	gate   *gate.Gate
	tools  *gate.Tools
	client jsonrpc.Limits // what the client may send
	server jsonrpc.Limits // what the server may send

	toClient *jsonrpc.Writer
	toServer *jsonrpc.Writer
	pending  *pendingTable
	calls    sync.WaitGroup // tools/call being judged or forwarded
	// asked: the server's requests to the client waiting for an answer.
	asked gate.Asked
	// batchSlots bounds the calls of batches judged at once.
	batchSlots chan struct{}

	// ctx ends when the relay stops; judgements and waits end with it.
	ctx  context.Context
	stop context.CancelFunc

	version  atomic.Pointer[string] // protocol version from initialize
	idPrefix string                 // of toolgate's own request ids
	nextID   atomic.Uint64
	writeErr atomic.Bool // the client's output failed once (logged once)
	// clientDone receives how reading the client ended, once.
	clientDone chan error
	// clientElicits: the client supports elicitation (initialize);
	// elicits are toolgate's elicitation requests in flight.
	clientElicits atomic.Bool
	elicits       elicitations
}

// Run starts the server and relays between it and the client (in, out)
// until the client closes in, ctx ends, or the server exits. On the first
// two it stops the server gracefully — its stdin is closed, then after
// Config.ShutdownTimeout it gets SIGTERM, then SIGKILL — and returns nil.
// If the server exits on its own, the client's pending requests are
// answered with errors and Run returns an *UpstreamExitError.
//
// When Run returns, every goroutine it started has ended, except a read of
// in that closing it (when it is an io.Closer) could not interrupt.
func Run(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	if len(o.Command) == 0 || o.Command[0] == "" {
		return errors.New("no MCP server command")
	}
	if o.Gate == nil {
		return errors.New("no gate")
	}
	o.Config.ApplyDefaults()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	r := &relay{
		o:          o,
		log:        o.Log,
		gate:       o.Gate,
		tools:      o.Gate.Tools(),
		client:     jsonrpc.Limits{MaxBytes: o.Config.MaxMessageBytes, MaxDepth: o.Config.MaxDepth},
		server:     jsonrpc.Limits{MaxBytes: o.Config.MaxResponseBytes},
		toClient:   jsonrpc.NewWriter(out),
		pending:    newPendingTable(),
		batchSlots: make(chan struct{}, maxBatchCalls),
		idPrefix:   "toolgate-" + hex.EncodeToString(rnd[:]) + "-",
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	defer r.stop()

	cmd, stdinW, stdoutR, err := spawn(o.Command, o.Env, o.Dir, o.Stderr)
	if err != nil {
		return err
	}
	r.toServer = jsonrpc.NewWriter(stdinW)
	name := strings.Join(o.Command, " ")

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	serverDone := make(chan error, 1)
	go func() { serverDone <- r.readServer(stdoutR) }()
	clientDone := make(chan error, 1)
	r.clientDone = clientDone
	go r.readClient(jsonrpc.NewReader(in, r.client.MaxBytes))

	var exitErr error
	hasExited, serverRead, clientRead, crashed := false, false, false, false
	select {
	case err := <-clientDone:
		clientRead = true
		if err != nil {
			r.log.Error("reading from the client failed; stopping", "error", err)
		}
	case <-ctx.Done():
		r.log.Info("stopping")
	case exitErr = <-exited:
		hasExited, crashed = true, true
	case err := <-serverDone:
		serverRead, crashed = true, true
		if err != nil {
			r.log.Error("reading from the MCP server failed", "error", err)
		}
	}

	if !crashed {
		// The client is done: let the calls in flight finish (within the
		// timeout) before the server's input closes.
		waitTimeout(&r.calls, o.Config.ShutdownTimeout)
	}
	stdinW.Close()
	signalled := false
	if !hasExited {
		exitErr, signalled = r.terminate(cmd, exited)
	}
	var crash error
	if crashed {
		why := exitStatus(exitErr)
		if signalled {
			why = fmt.Errorf("it closed its standard output and was stopped (%v)", exitErr)
		}
		crash = &UpstreamExitError{Command: name, Err: why}
	}
	// Read what the server wrote before it exited. A grandchild that keeps
	// the pipe open must not keep toolgate up.
	if !serverRead && !waitChan(serverDone, time.Second) {
		stdoutR.Close()
		<-serverDone
	}
	stdoutR.Close()
	if crash == nil && exitErr != nil {
		r.log.Info("the MCP server exited", "status", exitStatus(exitErr))
	}

	// Nobody will answer what is still pending: the calls the server had
	// learn that first (their outcome is the server's failure), then the
	// judgements still running end.
	for _, q := range r.pending.drain(errGone) {
		q.respond(jsonrpc.ErrorResponse(q.id, jsonrpc.CodeUpstream, errGone.Error()+" without answering this request", nil))
		q.notify(upstreamReply{err: errGone})
	}
	r.stop()
	waitTimeout(&r.calls, o.Config.ShutdownTimeout)

	if c, ok := in.(io.Closer); ok {
		_ = c.Close()
	}
	if !clientRead {
		waitChan(clientDone, time.Second)
	}
	return crash
}

// terminate stops the server whose stdin was just closed: it gets the
// timeout to exit, then SIGTERM, then the timeout again, then SIGKILL.
func (r *relay) terminate(cmd *exec.Cmd, exited <-chan error) (err error, signalled bool) {
	d := r.o.Config.ShutdownTimeout
	select {
	case err := <-exited:
		return err, false
	case <-time.After(d):
	}
	r.log.Warn("the MCP server did not exit after its input was closed; sending SIGTERM", "after", d)
	terminateGroup(cmd)
	select {
	case err := <-exited:
		return err, true
	case <-time.After(d):
	}
	r.log.Warn("the MCP server did not exit after SIGTERM; killing it", "after", d)
	killGroup(cmd)
	return <-exited, true
}

func exitStatus(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// waitTimeout waits for wg, at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return waitChan(done, d)
}

func waitChan[T any](ch <-chan T, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// writeClient sends a message to the client. If the client's output is
// gone there is nobody to tell; the failure is logged once.
func (r *relay) writeClient(b []byte) {
	if err := r.toClient.Write(b); err != nil && r.writeErr.CompareAndSwap(false, true) {
		r.log.Warn("cannot write to the client", "error", err)
	}
}

// protocolVersion is the version the server chose in initialize ("" before).
func (r *relay) protocolVersion() string {
	if v := r.version.Load(); v != nil {
		return *v
	}
	return ""
}
