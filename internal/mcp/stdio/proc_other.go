//go:build !unix

package stdio

import "os/exec"

func ownGroup(*exec.Cmd) {}

// Without process groups or SIGTERM, both steps kill the server itself.
func terminateGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
