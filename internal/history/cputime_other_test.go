//go:build !linux

package history

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
