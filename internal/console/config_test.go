package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/console"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	var c console.Config
	c.ApplyDefaults()
	if !c.On() || !c.AdminKeyOn() || c.SessionTTL != console.DefaultSessionTTL || c.IdleTimeout != console.DefaultIdleTimeout || len(c.Validate()) != 0 {
		t.Fatalf("defaults: %+v %v", c, c.Validate())
	}
	off := false
	withOIDC := console.Config{Enabled: &off, OIDC: &console.OIDCConfig{Issuer: "https://login.example.com/", ClientID: "c"}}
	withOIDC.ApplyDefaults()
	if withOIDC.On() || withOIDC.AdminKeyOn() || len(withOIDC.Validate()) != 0 || withOIDC.OIDC.Scopes[0] != "openid" {
		t.Fatalf("with oidc: %+v %v", withOIDC, withOIDC.Validate())
	}
	bad := map[string]console.Config{
		"session_ttl":     {SessionTTL: 48 * time.Hour},
		"idle_timeout":    {IdleTimeout: 9 * time.Hour},
		"public_url":      {PublicURL: "http://toolgate.example.com"},
		"public_url ":     {PublicURL: "https://toolgate.example.com/console?x=1"},
		"oidc.issuer":     {OIDC: &console.OIDCConfig{Issuer: "http://login.example.com/", ClientID: "c"}},
		"oidc.client_id":  {OIDC: &console.OIDCConfig{Issuer: "https://login.example.com/"}},
		"oidc.scopes":     {OIDC: &console.OIDCConfig{Issuer: "https://login.example.com/", ClientID: "c", Scopes: []string{"profile"}}},
		"oidc.issuer ":    {OIDC: &console.OIDCConfig{Issuer: "not a url", ClientID: "c"}},
		"public_url  ":    {PublicURL: "ftp://x"},
		"idle_timeout ":   {IdleTimeout: time.Second},
		"session_ttl ":    {SessionTTL: time.Second, IdleTimeout: time.Second},
		"public_url   ":   {PublicURL: "https://user@toolgate.example.com"},
		"public_url    ":  {PublicURL: "https://toolgate.example.com/#x"},
		"public_url     ": {PublicURL: "https://toolgate.example.com/path"},
	}
	for key, c := range bad {
		c.ApplyDefaults()
		errs := c.Validate()
		if len(errs) == 0 || !strings.HasPrefix(errs[0], strings.TrimSpace(key)+":") {
			t.Errorf("%s: %v", key, errs)
		}
	}
	ok := console.Config{PublicURL: "http://127.0.0.1:8470"}
	ok.ApplyDefaults()
	if errs := ok.Validate(); len(errs) != 0 {
		t.Errorf("a loopback http public_url: %v", errs)
	}
}
