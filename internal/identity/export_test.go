package identity

// WaitFetch waits for the JWKS fetch of issuer in progress, if any (tests).
func WaitFetch(v *Verifier, issuer string) {
	s := v.issuers[issuer].keys
	s.mu.Lock()
	f := s.flight
	s.mu.Unlock()
	if f != nil {
		<-f.done
	}
}
