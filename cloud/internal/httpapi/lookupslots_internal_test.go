package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lookupSlots: per slots per key at once, the next waits until one is
// given back or its context ends; keys are kept only while in use and
// capped.
func TestLookupSlots(t *testing.T) {
	l := newLookupSlots(2, 2)
	ctx := context.Background()
	r1, r2 := l.acquire(ctx, "a"), l.acquire(ctx, "a")
	require.NotNil(t, r1)
	require.NotNil(t, r2)

	got := make(chan func(), 1)
	go func() { got <- l.acquire(ctx, "a") }()
	select {
	case <-got:
		t.Fatal("a third slot of a key with two in use")
	case <-time.After(50 * time.Millisecond):
	}
	r1()
	var r3 func()
	select {
	case r3 = <-got:
		require.NotNil(t, r3)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting request did not get the slot given back")
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	assert.Nil(t, l.acquire(short, "a"), "its context ended while waiting")

	rb := l.acquire(ctx, "b")
	require.NotNil(t, rb, "another key has slots of its own")
	assert.Nil(t, l.acquire(ctx, "c"), "past max keys in use")
	assert.Equal(t, 2, l.inUse())

	r2()
	r3()
	rb()
	assert.Zero(t, l.inUse(), "keys are dropped once no request holds or waits for them")
	assert.NotNil(t, l.acquire(ctx, "c"))
}
