package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// Concurrent writers lose nothing and a concurrent reader sees whole
// writes (run with -race).
func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != 800 {
		t.Fatalf("got %d writes, want 800", got)
	}
}
