package txntoken

// WaitFetch waits for the JWKS fetch in progress, if any (tests).
func WaitFetch(v *Verifier) {
	v.mu.Lock()
	f := v.flight
	v.mu.Unlock()
	if f != nil {
		<-f.done
	}
}
