//go:build !unix

package pin

import "sync"

var mu sync.Mutex

// lockFile serialises updates within this process only; on systems without
// flock, processes that share a pin file may lose a concurrent update (the
// file itself is still replaced atomically).
func lockFile(string) (func(), error) {
	mu.Lock()
	return mu.Unlock, nil
}
