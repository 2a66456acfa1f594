package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/testutil/pgtest"
)

// pgSides are the sides of -store postgres: toolgate replicas on one
// PostgreSQL server that this run starts.
type pgSides struct {
	server *pgtest.Server
	procs  []*exec.Cmd
	sides  []pgSide
}

type pgSide struct {
	name string
	urls []string // each replica's MCP endpoint of the upstream
	pids []int
}

// startPG starts the server and two sides: one replica ("pg-1") on one
// database, and n replicas ("pg-n") on another, so neither side's data
// weighs on the other.
func startPG(bin, tmp, up string, n int) *pgSides {
	srv, err := pgtest.Start()
	must(err)
	pg := &pgSides{server: srv}
	for _, count := range []int{1, n} {
		db, err := srv.CreateDatabase()
		must(err)
		side := pgSide{name: fmt.Sprintf("pg-%d", count)}
		for i := range count {
			port := freePort()
			dir := filepath.Join(tmp, fmt.Sprintf("%s-%d", side.name, i))
			must(os.MkdirAll(dir, 0o700))
			cfg := fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\nstore: %s\nprincipal: {id: bench}\npolicy: {dirs: [%s]}\nlog: {level: warn}\nservers:\n  - {name: up, url: %q}\n",
				port, filepath.Join(dir, "data"), db, filepath.Join(tmp, "allow.cedar"), up)
			must(os.WriteFile(filepath.Join(dir, "toolgate.yaml"), []byte(cfg), 0o600))
			cmd := exec.Command(bin, "--config", filepath.Join(dir, "toolgate.yaml"), "serve")
			cmd.Stderr = os.Stderr
			must(cmd.Start())
			pg.procs = append(pg.procs, cmd)
			url := fmt.Sprintf("http://127.0.0.1:%d/mcp/up", port)
			waitUp(url)
			side.urls = append(side.urls, url)
			side.pids = append(side.pids, cmd.Process.Pid)
		}
		pg.sides = append(pg.sides, side)
	}
	return pg
}

func (pg *pgSides) stop() {
	for _, p := range pg.procs {
		_ = p.Process.Signal(os.Interrupt)
		_ = p.Wait()
	}
	_ = pg.server.Close()
}

// cpu is the CPU time of every process of the database server (the
// postmaster and its backends), by pid.
func (pg *pgSides) cpu() map[int]time.Duration {
	root := pg.server.PID()
	out := map[int]time.Duration{root: procCPU(root)}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || parentOf(pid) != root {
			continue
		}
		out[pid] = procCPU(pid)
	}
	return out
}

// since is the CPU the processes used from before to after (a process
// that started in between counts from zero).
func since(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procsCPU is the CPU time of the processes.
func procsCPU(pids []int) time.Duration {
	var d time.Duration
	for _, p := range pids {
		d += procCPU(p)
	}
	return d
}
