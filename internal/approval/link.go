package approval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/keys"
)

// LinkType is the JWT "typ" of a link token, so that no other token of
// toolgate's (a task token, a credential) is ever taken for one.
const LinkType = "toolgate-approval+jwt"

// linkAudience is the "aud" of every link token.
const linkAudience = "toolgate-approval"

// LinkPath is where links are answered: LinkPath + token.
const LinkPath = "/v1/approval-links/"

// linkClaims are what a link token says: this webhook's audience may answer
// this approval of this exact call until exp.
type linkClaims struct {
	keys.StandardClaims
	Approval   string `json:"approval"`
	ArgsSHA256 string `json:"args_sha256"`
	Webhook    string `json:"webhook"`
}

// linkURL signs a link to answer approval id, for the audience of
// webhook. It expires with the approval's deadline, or sooner
// (approvals.link_ttl).
func (s *Service) linkURL(ctx context.Context, id, argsSHA256, webhook string, deadline time.Time) (string, error) {
	now := s.now()
	exp := now.Add(s.cfg.LinkTTL)
	if deadline.Before(exp) {
		exp = deadline
	}
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	claims := linkClaims{
		StandardClaims: keys.StandardClaims{
			Issuer: s.o.Links.Issuer(), Subject: id, Audience: jwt.Audience{linkAudience},
			Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: hex.EncodeToString(jti[:]),
		},
		Approval: id, ArgsSHA256: argsSHA256, Webhook: webhook,
	}
	tok, err := s.o.Links.Sign(ctx, LinkType, claims)
	if err != nil {
		return "", err
	}
	base := s.publicURL()
	if base == "" {
		return "", errors.New("approvals.public_url is not set: links need the address of a `toolgate serve` on this data directory, where they are answered")
	}
	return strings.TrimRight(base, "/") + LinkPath + tok, nil
}

// verifyLink checks a link token: toolgate's signature, its type, issuer,
// audience and expiry, and that it names an approval.
func (s *Service) verifyLink(ctx context.Context, token string) (*linkClaims, error) {
	if s.o.Links == nil {
		return nil, errorf(CodeLink, "links are not enabled on this toolgate")
	}
	var c linkClaims
	if _, err := s.o.Links.Verify(ctx, token, LinkType, &c); err != nil {
		var ve *keys.VerifyError
		if errors.As(err, &ve) && ve.Reason == keys.ReasonExpired {
			return nil, errorf(CodeLink, "the link has expired: %v", err)
		}
		return nil, errorf(CodeLink, "the link is not valid: %v", err)
	}
	if !audienceHas(c.Audience, linkAudience) || c.Approval == "" || c.Subject != c.Approval || c.Webhook == "" {
		return nil, errorf(CodeLink, "the link is not valid: it is not an approval link")
	}
	return &c, nil
}

func audienceHas(a jwt.Audience, want string) bool {
	for _, x := range a {
		if x == want {
			return true
		}
	}
	return false
}
