package history

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time the calling thread has run (CLOCK_THREAD_CPUTIME_ID):
// unlike the wall clock, it does not count the time the thread waited for a
// CPU, so a benchmark can tell the work of a call from the scheduling of a
// loaded machine.
func threadCPU() (time.Duration, bool) {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
