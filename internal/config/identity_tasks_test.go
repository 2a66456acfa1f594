package config

import (
	"strings"
	"testing"
	"time"
)

// The identity, keys and tasks sections: parsed strictly, defaulted, and
// checked against each other.
func TestIdentityKeysTasksSections(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`
identity:
  issuers:
    - issuer: https://idp.example.com/
      audience: [toolgate]
      groups_claim: realm_access.roles
      owner_claim: act_for
      tags: {team: org.team}
      clock_skew: 30s
  api_keys:
    - hash: sha256:`+strings.Repeat("ab", 32)+`
      id: dev-agent
      groups: [developers]
keys:
  algorithm: ES256
tasks:
  max_ttl: 12h
  max_depth: 3
  admins: [platform]
`))
	if err != nil {
		t.Fatal(err)
	}
	is := c.Identity.Issuers[0]
	if is.ClockSkew != 30*time.Second || is.JWKSRefresh != time.Hour || is.Kind != "auto" || len(is.Algorithms) == 0 {
		t.Fatalf("issuer defaults: %+v", is)
	}
	if c.Identity.APIKeys[0].Kind != "agent" || c.Keys.Issuer != "toolgate" || c.Tasks.DefaultTTL != time.Hour || c.Tasks.MaxDepth != 3 {
		t.Fatalf("defaults: %+v %+v %+v", c.Identity.APIKeys[0], c.Keys, c.Tasks)
	}

	_, err = Parse("c.yaml", []byte(`
identity:
  issuers:
    - issuer: https://idp.example.com/
      algorithms: [HS256]
  api_keys:
    - hash: plain
keys:
  retain: 1h
tasks:
  max_ttl: 2h
  max_depht: 3
`))
	if err == nil || !strings.Contains(err.Error(), "tasks.max_depht") {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = Parse("c.yaml", []byte(`
identity:
  issuers:
    - issuer: https://idp.example.com/
      algorithms: [HS256]
  api_keys:
    - hash: plain
keys:
  retain: 1h
tasks:
  max_ttl: 2h
`))
	for _, want := range []string{"identity.issuers[0].audience", "identity.issuers[0].algorithms", "identity.api_keys[0].hash", "keys.retain"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}
