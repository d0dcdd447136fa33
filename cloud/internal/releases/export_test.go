package releases

import "time"

// SetLockCheckTimeout shortens s's LockCheckTimeout.
func SetLockCheckTimeout(s *Service, d time.Duration) { s.lockCheck = d }
