package e2e

import (
	"context"
	"errors"
	"net"
	neturl "net/url"
	"sync"
	"testing"

	tgcall "github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/task"
	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

// TestUnconfirmedRevocationFailsClosed: a replica checks a task's
// revocation in the database on every call, so it denies the call of a
// task it cannot confirm, whether the database refuses connections (down)
// or stops answering on the connections it has (a network partition: the
// store's operation timeout ends the wait). The task stage itself denies,
// with its own code, before any other stage would.
func TestUnconfirmedRevocationFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("a real PostgreSQL")
	}
	ctx := context.Background()
	srv := pgtest.StartT(t)
	url, err := srv.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	// The replica reaches the database through a link the test can cut.
	link := newLink(t, srv.Addr())
	db, err := postgres.Open(ctx, link.url(url), postgres.Options{OpTimeout: postgres.DefaultOpTimeout / 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ks, err := keys.OpenStored(ctx, db, db.URL(), keys.Config{}, keys.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := task.New(task.Config{}, task.Options{Tokens: keys.NewTokens(ks, "toolgate"), Tasks: db, Budgets: db})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(ctx, task.Caller{Local: true}, task.CreateRequest{Agent: "bot", Purpose: "p",
		Scope: task.Scope{Tools: []task.ToolRule{{Tool: "ledger/*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	resolve := func() error {
		c := &tgcall.Call{Principal: tgcall.Principal{Kind: tgcall.KindAgent, ID: "bot"}, TaskToken: iss.Token,
			Server: tgcall.Server{Name: "ledger"}, Tool: tgcall.Tool{Name: "note"}}
		_, err := svc.ResolveTask(ctx, c)
		return err
	}
	if err := resolve(); err != nil {
		t.Fatalf("a live task: %v", err)
	}

	// Partition: the connections stay open, nothing comes back.
	link.cut()
	err = resolve()
	var ce *tgcall.CodedError
	if !errors.As(err, &ce) || ce.Code != task.CodeStore {
		t.Fatalf("a task call while the database does not answer: %v", err)
	}
	link.mend()
	if err := resolve(); err != nil {
		t.Fatalf("after the link is back: %v", err)
	}

	// Down: connections are refused.
	if err := srv.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	err = resolve()
	if !errors.As(err, &ce) || ce.Code != task.CodeStore {
		t.Fatalf("a task call while the database is down: %v", err)
	}
}

// link is a TCP relay to the database that the test can cut (it stops
// relaying in both directions, as a partition does, without closing
// anything) and mend (new connections relay again).
type link struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu     sync.Mutex
	cutCh  chan struct{} // not nil while cut
	conns  []net.Conn
	broken []net.Conn // client ends the cut broke
}

func newLink(t *testing.T, target string) *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{t: t, ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		l.mu.Lock()
		for _, c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
	})
	go l.serve()
	return l
}

// url is the database URL with the link's address as its host.
func (l *link) url(dbURL string) string {
	return replaceHost(dbURL, l.ln.Addr().String())
}

func (l *link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		cut := l.cutCh
		l.mu.Unlock()
		if cut != nil {
			// Cut: the connection is accepted and never answered.
			l.track(c)
			l.breaks(c)
			continue
		}
		up, err := net.Dial("tcp", l.target)
		if err != nil {
			c.Close()
			continue
		}
		l.track(c, up)
		go l.relay(c, up, c)
		go l.relay(up, c, c)
	}
}

func (l *link) track(cs ...net.Conn) {
	l.mu.Lock()
	l.conns = append(l.conns, cs...)
	l.mu.Unlock()
}

// breaks marks connections the partition broke: its end closes them.
func (l *link) breaks(cs ...net.Conn) {
	l.mu.Lock()
	l.broken = append(l.broken, cs...)
	l.mu.Unlock()
}

// relay copies from src to dst until cut, then drops what it read and
// stops: client, the client's end, is broken.
func (l *link) relay(dst, src, client net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		l.mu.Lock()
		cut := l.cutCh
		l.mu.Unlock()
		if cut != nil {
			l.breaks(client) // the connection stays open and silent
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // the end closed (or failed): so does the other
			dst.Close()
			return
		}
	}
}

func (l *link) cut() {
	l.mu.Lock()
	l.cutCh = make(chan struct{})
	l.mu.Unlock()
}

// mend relays again, on the connections that were idle through the cut
// and on new ones; the connections the cut broke are closed, as the end of a
// partition finds them.
func (l *link) mend() {
	l.mu.Lock()
	l.cutCh = nil
	for _, c := range l.broken {
		c.Close()
	}
	l.broken = nil
	l.mu.Unlock()
}

// replaceHost returns u with host as its host and port.
func replaceHost(u, host string) string {
	p, err := neturl.Parse(u)
	if err != nil {
		panic(err)
	}
	p.Host = host
	return p.String()
}
