package store

import "time"

// SetNow replaces the API process's clock of s (tests only).
func SetNow(s *Store, now func() time.Time) { s.now = now }
