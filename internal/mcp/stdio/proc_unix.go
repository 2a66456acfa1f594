//go:build unix

package stdio

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the server in a process group of its own, so that
// stopping it reaches what it started too (npx starts node, for one).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func terminateGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
