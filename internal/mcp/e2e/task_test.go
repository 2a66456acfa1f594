package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/testutil"
)

// TestTaskTokenThroughRun: `toolgate run` presents TOOLGATE_TASK_TOKEN with
// every call; the task's scope is one more policy layer and its budget is
// spent by allowed calls. The org policies allow every weather tool.
func TestTaskTokenThroughRun(t *testing.T) {
	e := newEnv(t)
	ctx := timeout(t, 2*time.Minute)

	// A task for the local agent (the run principal without config) that
	// may call get_weather twice and nothing else.
	out, err := exec.Command(testutil.Toolgate(t), "--config", e.config, "--data-dir", e.dataDir, "task", "create",
		"--agent", "local", "--purpose", "weather report", "--tool", "weather/get_weather", "--budget", "2").Output()
	if err != nil {
		t.Fatalf("task create: %v", err)
	}
	token := ""
	for _, line := range strings.Fields(string(out)) {
		if strings.Count(line, ".") == 2 && strings.HasPrefix(line, "ey") {
			token = line
		}
	}
	if token == "" {
		t.Fatalf("no token in %q", out)
	}

	cmd := e.weatherCmd(honest)
	cmd.Env = append(cmd.Env, "TOOLGATE_TASK_TOKEN="+token)
	cs := connect(t, ctx, cmd, nil)
	names := toolNames(t, ctx, cs)
	if !slices.Contains(names, "get_weather") || slices.Contains(names, "update_yourself") {
		t.Fatalf("tools outside the task's scope should be hidden: %v", names)
	}
	for i := 0; i < 2; i++ {
		if got := text(weather(t, ctx, cs)); got != "sunny in Paris" {
			t.Fatalf("call %d in scope: %q", i, got)
		}
	}
	reason, _ := denial(t, weather(t, ctx, cs))
	if !strings.Contains(reason, "budget") {
		t.Fatalf("third call: want the budget exhausted, got %q", reason)
	}
	reason, _ = denial(t, callTool(t, ctx, cs, "update_yourself", map[string]any{}))
	if !strings.Contains(reason, "task") {
		t.Fatalf("call outside the scope: want a reason naming the task, got %q", reason)
	}
}
