package mcp

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.ApplyDefaults()
	want := Config{Denial: DenialResult, Pinning: PinRefuse, MaxMessageBytes: 4 << 20, MaxResponseBytes: 64 << 20, MaxDepth: 64, ShutdownTimeout: 5 * time.Second,
		Gateway: GatewayConfig{Separator: "/", SessionIdleTimeout: 30 * time.Minute, RequestTimeout: 5 * time.Minute, MaxSessions: 1024, MaxSessionsPerPrincipal: 64}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults = %+v", c)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Denial: "silent", Pinning: "trust", MaxMessageBytes: 10, MaxResponseBytes: -1, MaxDepth: 5000, ShutdownTimeout: -time.Second,
		Gateway: GatewayConfig{Separator: "a b", MaxSessions: 10, MaxSessionsPerPrincipal: 20, Servers: map[string]GatewayServer{"fs": {Mode: "pooled", Credential: "cookie"}}}}
	errs := strings.Join(c.Validate(), "\n")
	for _, key := range []string{"denial:", "pinning:", "max_message_bytes:", "max_response_bytes:", "max_depth:", "shutdown_timeout:",
		"gateway.separator:", "gateway.max_sessions_per_principal:", "gateway.servers.fs.mode:", "gateway.servers.fs.credential:"} {
		if !strings.Contains(errs, key) {
			t.Errorf("no error for %s in:\n%s", key, errs)
		}
	}
}
