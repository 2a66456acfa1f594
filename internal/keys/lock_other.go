//go:build !unix

package keys

import "sync"

var mu sync.Mutex

// lockFile serialises key changes within this process only; on systems
// without flock, two processes starting at once on a new data directory may
// each create a first key (the index is still replaced atomically, so one
// wins and the other reloads it on its next verification).
func lockFile(string) (func(), error) {
	mu.Lock()
	return mu.Unlock, nil
}
