package upstream

import (
	"net/http"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
)

func TestSetCredential(t *testing.T) {
	cred := &call.Credential{ID: "c1", Token: "tok.en.sig", AccessToken: "exchanged-access-token",
		Header: map[string]string{"X-Api-Key": "k-0123456789"}}
	h := http.Header{}
	SetCredential(h, cred, CredentialTxnToken)
	if h.Get("Txn-Token") != "tok.en.sig" || h.Get("Authorization") != "Bearer exchanged-access-token" || h.Get("X-Api-Key") != "k-0123456789" {
		t.Fatalf("txn-token mode: %v", h)
	}
	h = http.Header{}
	SetCredential(h, &call.Credential{ID: "c2", Token: "tok.en.sig", Header: map[string]string{"Authorization": "Bearer secret-that-loses"}}, CredentialBearer)
	if h.Get("Authorization") != "Bearer tok.en.sig" || h.Get("Txn-Token") != "" {
		t.Fatalf("bearer mode: the per-call token must win Authorization: %v", h)
	}
	h = http.Header{}
	SetCredential(h, nil, CredentialTxnToken)
	if len(h) != 0 {
		t.Fatalf("no credential: %v", h)
	}
}
