//go:build unix

package history

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/toolgate/toolgate/internal/store"
)

// generation is a counter shared by every process of one data directory,
// bumped after each commit of history events. It lets a process tell, with
// one memory load instead of a database query (~50 µs), whether another
// process has written history since it last looked. It lives in a small
// file mapped shared into each process, the way SQLite shares its WAL index
// (-shm): an atomic add on the mapping is seen by all of them.
//
// The counter is only a hint to skip a query, so it must never say
// "nothing changed" wrongly, and a file replaced under running processes
// (deleted and created again, renamed over, restored from a backup) would:
// the processes that mapped the old file and those that map the new one no
// longer see each other's bumps. So the store keeps a mark naming the file
// in use (device, inode and a random tag written into the file), and a
// process trusts its mapping only if it names the marked file. The mark
// changes only while no other process of the data directory runs: each
// process that trusts its mapping holds a shared lock on the data
// directory for as long as it runs, and the mark is set under the exclusive
// lock. A process that finds another file than the marked one while others
// run (they use the old file) cannot trust its mapping: its recalls are
// denied until they have stopped (fail closed). Checking costs nothing per
// call; it is done when the stage starts and, while it cannot trust the
// file, at each recall.
type generation struct {
	path string
	dir  *os.File // the data directory, locked shared while trusted
	mark store.HistoryCounterMark

	mu      sync.Mutex // serialises settle; guards old
	m       atomic.Pointer[mapping]
	old     []*mapping // replaced mappings, unmapped at close (a load may still use one)
	trusted atomic.Bool
}

// mapping is one mapped counter file: the counter at 0, the file's random
// tag at 8 (set once, by whichever process first sees it zero).
type mapping struct {
	mem  []byte
	ctr  *uint64
	tag  *uint64
	want uint64 // the tag when mapped: another one means the file was reset
	id   string // the mark naming this file
}

// GenerationFile is the counter's file in the data directory.
const GenerationFile = "history.gen"

const genSize = 16

var errGenReplaced = errors.New("the history's shared counter file (" + GenerationFile + ") is not the one the other toolgate processes of this data directory use: it was replaced while they ran; their calls and this process's would not see each other's history, so this process denies its calls until they have all stopped (restart them)")

func openGeneration(ctx context.Context, dir string, mark store.HistoryCounterMark) (*generation, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	g := &generation{path: filepath.Join(dir, GenerationFile), dir: d, mark: mark}
	if err := g.settle(ctx); err != nil && !errors.Is(err, errGenReplaced) {
		d.Close()
		return nil, err
	}
	return g, nil
}

func mapGeneration(path string) (*mapping, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("history: %s: %w", path, err)
	}
	// Extending is idempotent: several processes may race here.
	if st.Size < genSize {
		if err := f.Truncate(genSize); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, genSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("history: map %s: %w", path, err)
	}
	// A page-aligned mapping is 8-byte aligned, as 64-bit atomics need.
	m := &mapping{mem: mem, ctr: (*uint64)(unsafe.Pointer(&mem[0])), tag: (*uint64)(unsafe.Pointer(&mem[8]))}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		syscall.Munmap(mem)
		return nil, fmt.Errorf("history: %w", err)
	}
	tag := binary.LittleEndian.Uint64(b[:]) | 1 // never 0, which means unset
	atomic.CompareAndSwapUint64(m.tag, 0, tag)  // the first process to see it unset sets it
	m.want = atomic.LoadUint64(m.tag)
	m.id = fmt.Sprintf("%d:%d:%016x", uint64(st.Dev), uint64(st.Ino), m.want)
	return m, nil
}

// settle decides whether the mapping can be trusted (see generation); it
// returns errGenReplaced if not yet.
func (g *generation) settle(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.trusted.Load() {
		return nil
	}
	fd := int(g.dir.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		return fmt.Errorf("history: lock %s: %w", g.dir.Name(), err)
	}
	m, err := g.remap()
	if err == nil {
		var marked string
		if marked, err = g.mark.HistoryCounterMark(ctx); err == nil && marked == m.id {
			g.trusted.Store(true)
			return nil
		}
	}
	if err != nil {
		syscall.Flock(fd, syscall.LOCK_UN)
		return err
	}
	// Another file is marked. Only if no other process runs (none holds
	// the shared lock) may this one become the marked one.
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		syscall.Flock(fd, syscall.LOCK_UN)
		return errGenReplaced
	}
	if m, err = g.remap(); err == nil {
		err = g.mark.SetHistoryCounterMark(ctx, m.id)
	}
	if err == nil {
		err = syscall.Flock(fd, syscall.LOCK_SH)
	}
	if err != nil {
		syscall.Flock(fd, syscall.LOCK_UN)
		return err
	}
	g.trusted.Store(true)
	return nil
}

// remap maps the file the path names now, if it is not the one mapped.
func (g *generation) remap() (*mapping, error) {
	m := g.m.Load()
	nm, err := mapGeneration(g.path)
	if err != nil {
		return nil, err
	}
	if m != nil && nm.id == m.id {
		syscall.Munmap(nm.mem)
		return m, nil
	}
	if m != nil {
		g.old = append(g.old, m)
	}
	g.m.Store(nm)
	return nm, nil
}

// load returns the counter; changed reports that it cannot be relied on
// this time (the file was reset under the mapping), so anything may have
// changed. An error means the file cannot be trusted at all.
func (g *generation) load(ctx context.Context) (v uint64, changed bool, err error) {
	if !g.trusted.Load() {
		if err := g.settle(ctx); err != nil {
			return 0, true, err
		}
	}
	m := g.m.Load()
	v, ok := atomicOn(m, func() uint64 { return atomic.LoadUint64(m.ctr) })
	tag, tok := atomicOn(m, func() uint64 { return atomic.LoadUint64(m.tag) })
	return v, !ok || !tok || tag != m.want, nil
}

// bump adds one for a commit of this process; changed as for load.
func (g *generation) bump() (v uint64, changed bool) {
	m := g.m.Load()
	v, ok := atomicOn(m, func() uint64 { return atomic.AddUint64(m.ctr, 1) })
	tag, tok := atomicOn(m, func() uint64 { return atomic.LoadUint64(m.tag) })
	return v, !ok || !tok || tag != m.want
}

// atomicOn runs op on the mapping. A file truncated under the mapping
// makes the access fault (SIGBUS); that is reported, not a crash.
func atomicOn(_ *mapping, op func() uint64) (v uint64, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			v, ok = 0, false
		}
	}()
	return op(), true
}

func (g *generation) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	for _, m := range append(g.old, g.m.Load()) {
		if m == nil {
			continue
		}
		if e := syscall.Munmap(m.mem); err == nil {
			err = e
		}
	}
	if e := g.dir.Close(); err == nil { // and with it the lock
		err = e
	}
	return err
}
