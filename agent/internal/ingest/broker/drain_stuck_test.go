package broker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Drain returns by its ctx while a subscriber that stopped reading blocks
// the broker's write to it.
func TestDrainWithStuckSubscriber(t *testing.T) {
	b := start(t, Options{})
	stuckSubscriber(t, b.Addr(), randomID("stuck-"), "t")
	fillStuck(t, b, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	returnsWithin(t, "Drain", 20*time.Second, func() { _ = b.Drain(ctx, "ingest") })
	returnsWithin(t, "Close", 20*time.Second, func() { require.NoError(t, b.Close()) })
}
