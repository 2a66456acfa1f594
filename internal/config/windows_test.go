package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPolicyWindows(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bank.cedar", `permit(principal, action, resource);`)
	write("bank.windows.yaml", "windows:\n  payments_1h: {op: count, actions: [bank/send_money], within: 1h}\n")
	write("sub/limits.windows.yaml", "windows:\n  spent_24h: {op: sum, actions: [bank/send_money], field: amount, within: 24h}\n")
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte("policy: {dirs: [.]}\nhistory:\n  windows:\n    reads: {op: count, actions: [fs/read], within: 10m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadPolicyWindows(); err != nil {
		t.Fatal(err)
	}
	w := c.History.Windows
	if len(w) != 3 || w["payments_1h"].Within != time.Hour || w["spent_24h"].Field != "amount" || w["reads"].Op != "count" {
		t.Fatalf("windows %+v", w)
	}

	write("dup.windows.yaml", "windows:\n  reads: {op: count, within: 1m}\n")
	c, _ = Parse(filepath.Join(dir, "c.yaml"), []byte("policy: {dirs: [.]}\nhistory:\n  windows:\n    reads: {op: count, actions: [fs/read], within: 10m}\n"))
	if err := c.LoadPolicyWindows(); err == nil || !strings.Contains(err.Error(), `window "reads" is already declared in`) {
		t.Fatalf("duplicate: %v", err)
	}
	os.Remove(filepath.Join(dir, "dup.windows.yaml"))

	write("bad.windows.yaml", "windows:\n  x: {op: average, within: 1m}\n")
	c, _ = Parse(filepath.Join(dir, "c.yaml"), []byte("policy: {dirs: [.]}\n"))
	if err := c.LoadPolicyWindows(); err == nil || !strings.Contains(err.Error(), "history.windows.x") {
		t.Fatalf("invalid window: %v", err)
	}
	write("bad.windows.yaml", "windows:\n  x: {op: count, whithin: 1m}\n")
	if err := c.LoadPolicyWindows(); err == nil || !strings.Contains(err.Error(), "bad.windows.yaml:2:") || !strings.Contains(err.Error(), "whithin") {
		t.Fatalf("unknown key: %v", err)
	}
}
