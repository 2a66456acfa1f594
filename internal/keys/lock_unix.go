//go:build unix

package keys

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on path (created if needed), so
// that toolgate processes sharing a data directory never both create or
// rotate a key. The lock is released by the returned function or when the
// process dies.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
