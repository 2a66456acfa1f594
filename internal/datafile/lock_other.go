//go:build !unix

package datafile

import "sync"

var mu sync.Mutex

// Lock serialises within this process only: without flock, two processes
// sharing a data directory are not kept apart. Callers replace their files
// atomically, so the cost is a lost concurrent update, never a torn file.
func Lock(string) (func(), error) {
	mu.Lock()
	return mu.Unlock, nil
}
