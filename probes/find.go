package probes

// Probe returns the attached probe named name, or nil when it is not
// attached (skipped, or not asked for). Callers use it for what one probe
// offers beyond the Probe interface (the tls probe's OwnConn).
func (s *Session) Probe(name string) Probe {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.probes {
		if p.Name() == name {
			return p
		}
	}
	return nil
}
