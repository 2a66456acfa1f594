package identity

import (
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/call"
)

// An RFC 8693 delegation token from the IdP: the subject is the human, the
// outermost act is the caller, nested acts are earlier actors.
func TestActClaimMapsToChain(t *testing.T) {
	is := &issuer{cfg: IssuerConfig{IDClaim: "sub", GroupsClaim: "groups", Kind: "user", IDPrefix: "idp:"}}
	id, err := is.mapClaims(map[string]any{
		"sub": "alice",
		"act": map[string]any{"sub": "summariser", "act": map[string]any{"sub": "researcher"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if id.Principal.Kind != call.KindAgent || id.Principal.ID != "idp:summariser" || id.Principal.Owner != "idp:alice" {
		t.Fatalf("principal %+v", id.Principal)
	}
	if !slices.Equal(id.Chain, []string{"idp:summariser", "idp:researcher"}) {
		t.Fatalf("chain %v", id.Chain)
	}
	if _, err := is.mapClaims(map[string]any{"sub": "alice", "act": map[string]any{"act": map[string]any{}}}); err == nil {
		t.Fatal("act without sub accepted")
	}
	deep := map[string]any{"sub": "x"}
	for range maxActDepth + 1 {
		deep = map[string]any{"sub": "x", "act": deep}
	}
	if _, err := is.mapClaims(map[string]any{"sub": "alice", "act": deep}); err == nil {
		t.Fatal("act nested too deep accepted")
	}
}
