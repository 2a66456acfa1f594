// Package pgtest runs a real PostgreSQL server for tests: initdb and pg_ctl
// in a temporary directory, listening on a free loopback port. A test binary
// shares one server (Shared) and gives each test its own database
// (Database); a test that stops or restarts the server starts its own
// (Start). Test binaries that use Shared stop it in TestMain through Main.
//
// The binaries are found on PATH or in /usr/lib/postgresql/*/bin
// (scripts/test-deps.sh installs them when missing). PostgreSQL refuses to
// run as root, so under root the server runs as the "postgres" user.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/testutil"
)

// Server is a PostgreSQL server in a temporary directory.
type Server struct {
	dir  string // the temporary directory; the cluster is in dir/data
	bin  string // the directory of initdb, pg_ctl, postgres
	port int
	cred *syscall.Credential // the user the server runs as, nil for this one

	dbs        atomic.Int64
	testDBOnce sync.Once
	testDBErr  error
}

// Bin finds the directory of the PostgreSQL server binaries, or "".
func Bin() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises a cluster in a new temporary directory and starts it.
// Stop it with Stop.
func Start() (*Server, error) {
	bin := Bin()
	if bin == "" {
		return nil, errMissing
	}
	dir, err := os.MkdirTemp("", "toolgate-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "toolgate", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		s.remove()
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	// A port that was free a moment ago may be taken by the time the
	// server binds it: try a few.
	for range 5 {
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	s.remove()
	return nil, err
}

var errMissing = errors.New("the PostgreSQL server (initdb, pg_ctl)")

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

func (s *Server) start() error {
	if s.port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		s.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	// No Unix socket (its path could be too long for the temp directory);
	// fsync stays on, as in production, so the tests of durability mean
	// what they say.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=32MB", s.port)
	out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o", opts, "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.port = 0 // pick another port next time
		return fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// URL is the connection URL of a database on the server.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("toolgate"), Host: s.Addr(), Path: "/" + db}
	u.RawQuery = "sslmode=disable"
	return u.String()
}

// Addr is the server's address (host:port).
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Exec runs SQL in the server's postgres database.
func (s *Server) Exec(sql string) error { return s.execIn(s.URL("postgres"), sql) }

// CreateDatabase creates a new, empty database and returns its URL.
func (s *Server) CreateDatabase() (string, error) {
	name := fmt.Sprintf("d%d", s.dbs.Add(1))
	if err := s.Exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return s.URL(name), nil
}

// Database returns the URL of a new, empty schema for one test, dropped
// when the test ends: toolgate's tables are unqualified, so a search_path
// in the URL gives each test its own (much faster than a database each).
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	s.testDBOnce.Do(func() {
		if err := s.Exec("CREATE DATABASE tests"); err != nil {
			s.testDBErr = err
		}
	})
	if s.testDBErr != nil {
		t.Fatal(s.testDBErr)
	}
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	u := s.URL("tests")
	if err := s.execIn(u, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.execIn(u, "DROP SCHEMA "+name+" CASCADE") })
	return u + "&search_path=" + name
}

func (s *Server) execIn(u, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// Stop stops the server: "fast" disconnects clients and shuts down
// cleanly; "immediate" is a crash (recovery runs at the next start).
func (s *Server) Stop(mode string) error {
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", mode, "-w", "stop"); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// PID is the server's process (the postmaster), 0 if it is not running.
func (s *Server) PID() int {
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	return pid
}

// Restart starts a stopped server again, on the same port.
func (s *Server) Restart() error { return s.start() }

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop("immediate")
	s.remove()
	return err
}

func (s *Server) remove() { os.RemoveAll(s.dir) }

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns the test binary's server, starting it on first use. The
// binary's TestMain must call Main so the server stops at the end.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if errors.Is(sharedErr, errMissing) {
		testutil.Missing(t, errMissing.Error())
	}
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// Main runs the tests and stops the shared server, if one was started; use
// it as os.Exit(pgtest.Main(m)) in TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}

// StartT is Start for one test: skipped or failed (testutil.Missing) when
// PostgreSQL is not installed, closed when the test ends.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if errors.Is(err, errMissing) {
		testutil.Missing(t, errMissing.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
