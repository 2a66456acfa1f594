//go:build unix

package datafile

import (
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on path (created, 0600, if needed)
// and returns the function that releases it. The lock is also released when
// the process dies, so a crash never leaves a data directory locked.
func Lock(path string) (func(), error) {
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
