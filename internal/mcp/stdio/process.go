package stdio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
)

// Process is an MCP server started as a child process, for front doors that
// manage their servers themselves (the HTTP gateway) rather than relaying
// one client to one server as Run does. It has the same process handling as
// Run: the server runs in a process group of its own, and Stop closes its
// input, then sends SIGTERM, then SIGKILL.
type Process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	// In writes messages to the server; Out reads the server's messages
	// (lines of at most the limit given to StartProcess).
	In  *jsonrpc.Writer
	Out *jsonrpc.Reader

	exited  chan struct{}
	exitErr error
}

// StartProcess starts command with env (nil: toolgate's own), dir and
// stderr; limit bounds one message from the server.
func StartProcess(command, env []string, dir string, stderr io.Writer, limit int) (*Process, error) {
	if len(command) == 0 || command[0] == "" {
		return nil, errors.New("no MCP server command")
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	cmd, stdinW, stdoutR, err := spawn(command, env, dir, stderr)
	if err != nil {
		return nil, err
	}
	p := &Process{
		cmd: cmd, stdin: stdinW, stdout: stdoutR,
		In: jsonrpc.NewWriter(stdinW), Out: jsonrpc.NewReader(stdoutR, limit),
		exited: make(chan struct{}),
	}
	go func() {
		p.exitErr = exitStatus(cmd.Wait())
		close(p.exited)
	}()
	return p, nil
}

// spawn starts the server in a process group of its own, on pipes of our
// own (not cmd.StdoutPipe: Wait must not close the server's output before
// everything it wrote has been read), and returns its input and output.
func spawn(command, env []string, dir string, stderr io.Writer) (cmd *exec.Cmd, stdin, stdout *os.File, err error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, nil, nil, err
	}
	cmd = exec.Command(command[0], command[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, stderr
	ownGroup(cmd)
	err = cmd.Start()
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		return nil, nil, nil, fmt.Errorf("cannot start the MCP server: %w", err)
	}
	return cmd, stdinW, stdoutR, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process exited (after Exited is closed).
func (p *Process) Err() error { return p.exitErr }

// Stop ends the process: its input is closed; if it has not exited after
// timeout, its process group gets SIGTERM, then after timeout more SIGKILL.
func (p *Process) Stop(timeout time.Duration) {
	p.stdin.Close()
	if !waitChan(p.exited, timeout) {
		terminateGroup(p.cmd)
		if !waitChan(p.exited, timeout) {
			killGroup(p.cmd)
			<-p.exited
		}
	}
	// A grandchild that keeps the pipe open must not keep the reader up.
	p.stdout.Close()
}
