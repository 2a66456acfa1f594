package history

// holdsOf lists the held places of a scope in memory (tests).
func (s *Stage) holdsOf(key string) []string {
	s.mu.Lock()
	sc := s.scopes[key]
	s.mu.Unlock()
	if sc == nil {
		return nil
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var out []string
	for ref := range sc.held {
		out = append(out, ref)
	}
	return out
}
