package identity

import (
	"context"
	"maps"
	"slices"

	"github.com/toolgate/toolgate/internal/call"
)

// Stage is the pipeline's identify stage (enforce.Identifier).
//
//   - A call with an identity credential (c.IdentityToken) is made by whom
//     the credential proves, whatever the front door stated; a credential
//     that does not verify denies the call.
//   - A call without one keeps the principal its front door stated (the
//     AuthZEN subject, the stdio proxy's principal).
//   - A call with neither is made by Default if it is set (the local
//     default principal of a stdio deployment), and denied otherwise.
type Stage struct {
	Verifier *Verifier
	// Default is the principal of unauthenticated calls; nil denies them.
	Default *call.Principal
}

// Identify implements enforce.Identifier.
func (s *Stage) Identify(ctx context.Context, c *call.Call) error {
	c.IdentityIssuer = "" // only a token verified here is vouched for
	if c.IdentityToken != "" {
		if s.Verifier == nil {
			return errorf(CodeMissing, "the call presents an identity credential, but no identity provider or API key is configured")
		}
		id, err := s.Verifier.Verify(ctx, c.IdentityToken)
		if err != nil {
			return err
		}
		c.Principal = id.Principal
		c.Chain = id.Chain
		c.IdentityIssuer = id.Issuer
		return nil
	}
	if c.Principal.ID != "" {
		return nil
	}
	if s.Default != nil && s.Default.ID != "" {
		p := *s.Default
		p.Groups = slices.Clone(p.Groups)
		p.Claims = maps.Clone(p.Claims)
		c.Principal = p
		return nil
	}
	return errorf(CodeMissing, "the call is not authenticated and no default principal is configured: present an identity token or API key")
}
