package httpapi

import "time"

// SetArchiveWriteTimeout sets archiveWriteTimeout until the test ends
// (not for parallel tests).
func SetArchiveWriteTimeout(t interface{ Cleanup(func()) }, d time.Duration) {
	old := archiveWriteTimeout
	archiveWriteTimeout = d
	t.Cleanup(func() { archiveWriteTimeout = old })
}
