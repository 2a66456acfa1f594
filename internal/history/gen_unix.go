//go:build unix

package history

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// generation is a counter shared by every process of one data directory,
// bumped after each commit of history events. It lets a process tell, with
// one memory load instead of a database query (~50 µs), whether another
// process has written history since it last looked. It lives in a small
// file mapped shared into each process, the way SQLite shares its WAL index
// (-shm): an atomic add on the mapping is seen by all of them.
type generation struct {
	mem []byte
	ctr *uint64
}

// GenerationFile is the counter's file in the data directory.
const GenerationFile = "history.gen"

func openGeneration(dir string) (*generation, error) {
	path := filepath.Join(dir, GenerationFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	// Extending to 8 bytes is idempotent: several processes may race here.
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	} else if fi.Size() < 8 {
		if err := f.Truncate(8); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("history: map %s: %w", path, err)
	}
	// A page-aligned mapping is 8-byte aligned, as 64-bit atomics need.
	return &generation{mem: mem, ctr: (*uint64)(unsafe.Pointer(&mem[0]))}, nil
}

func (g *generation) load() uint64 { return atomic.LoadUint64(g.ctr) }
func (g *generation) bump() uint64 { return atomic.AddUint64(g.ctr, 1) }
func (g *generation) close() error { return syscall.Munmap(g.mem) }
