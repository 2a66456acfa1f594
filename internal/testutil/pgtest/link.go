package pgtest

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Link is a TCP relay to a server that a test can cut, as a network
// partition does: nothing is relayed any more in either direction and
// nothing is closed, so a client waits on connections that stay open and
// silent (a server that is down refuses connections instead, which is
// Stop's case). Mend relays again.
type Link struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	broken []net.Conn // client ends the cut broke: Mend closes them
}

// NewLink relays to the server, until the test ends.
func (s *Server) NewLink(t testing.TB) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Link{ln: ln, target: s.Addr()}
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

// URL is the database URL dbURL with the link's address as its host.
func (l *Link) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		panic(err)
	}
	u.Host = l.ln.Addr().String()
	return u.String()
}

// Cut stops relaying.
func (l *Link) Cut() {
	l.mu.Lock()
	l.cut = true
	l.mu.Unlock()
}

// Mend relays again, on the connections that were idle through the cut and
// on new ones; the connections the cut broke are closed, as the end of a
// partition finds them.
func (l *Link) Mend() {
	l.mu.Lock()
	l.cut = false
	for _, c := range l.broken {
		c.Close()
	}
	l.broken = nil
	l.mu.Unlock()
}

// Reset closes every connection through the link, as a partition that ends
// in resets does: whatever waits on one gets an error.
func (l *Link) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns, l.broken = nil, nil
}

func (l *Link) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

func (l *Link) track(broken bool, cs ...net.Conn) {
	l.mu.Lock()
	l.conns = append(l.conns, cs...)
	if broken {
		l.broken = append(l.broken, cs...)
	}
	l.mu.Unlock()
}

func (l *Link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		if l.isCut() {
			l.track(true, c) // accepted, never answered
			continue
		}
		up, err := net.Dial("tcp", l.target)
		if err != nil {
			c.Close()
			continue
		}
		l.track(false, c, up)
		go l.relay(c, up, c)
		go l.relay(up, c, c)
	}
}

// relay copies from src to dst. Once cut, it drops what it read and stops:
// client, the client's end, is broken. When one end closes, so does the
// other.
func (l *Link) relay(dst, src, client net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if l.isCut() {
			l.track(true, client)
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				dst.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}
