// Command confserver is an MCP server over Streamable HTTP, written with the
// official Go SDK (github.com/modelcontextprotocol/go-sdk), that implements
// what the server scenarios of the MCP conformance suite
// (@modelcontextprotocol/conformance, `conformance server --url ...`) call:
// the test_* tools (text, image, audio, embedded resource, mixed content,
// error, logging, progress, sampling, elicitation, SEP-1034 defaults,
// SEP-1330 enums, JSON Schema 2020-12, SSE reconnection), the test://
// resources and resource template, resource subscriptions, the test_*
// prompts, completion and logging/setLevel.
//
// It exists so that the conformance test of the e2e package
// (TestConformanceThroughToolgate) runs against an upstream that is ours,
// in our test tree, rather than one built from another module's source.
// Each scenario's expectations are those stated in the suite's own scenario
// descriptions.
//
// Usage:
//
//	confserver -http=localhost:3000 [-stateless=false]
//
// It serves MCP at /mcp. Stateful (the default) is needed for sampling and
// elicitation, which are requests from the server to the client, and for
// resuming an SSE stream the server closed (test_reconnection).
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	addr := flag.String("http", "localhost:3000", "listen address (host:port); MCP is served at /mcp")
	stateless := flag.Bool("stateless", false, "serve without sessions (no sampling, elicitation or stream resumption)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	server := newServer()
	go watch(ctx, server, 3*time.Second)

	opts := &mcp.StreamableHTTPOptions{Stateless: *stateless}
	if !*stateless {
		// Kept events let a client resume a stream with Last-Event-ID.
		opts.EventStore = mcp.NewMemoryEventStore(nil)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, opts))
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("confserver: MCP at http://%s/mcp (stateless=%v)", *addr, *stateless)
	select {
	case err := <-errc:
		log.Fatalf("confserver: %v", err)
	case <-ctx.Done():
	}
	// Open SSE streams do not end by themselves: wait a little, then close.
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Printf("confserver: shutdown: %v", err)
	}
	_ = srv.Close()
}

// newServer returns the MCP server with every tool, resource, resource
// template and prompt registered.
func newServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "toolgate-conformance-server", Version: "1.0.0"}, &mcp.ServerOptions{
		Instructions: "A test server for the MCP conformance suite (toolgate's e2e tests).",
		// Tools, resources and prompts are inferred from what is added;
		// completions and subscriptions from the handlers below.
		//lint:ignore SA1019 logging-set-level and tools-call-with-logging check logging, which protocol 2026-07-28 deprecates (SEP-2577)
		Capabilities:       &mcp.ServerCapabilities{Logging: &mcp.LoggingCapabilities{}},
		CompletionHandler:  complete,
		SubscribeHandler:   subscribe,
		UnsubscribeHandler: unsubscribe,
	})
	addTools(server)
	addResources(server)
	addPrompts(server)
	return server
}
