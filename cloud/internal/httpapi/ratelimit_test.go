package httpapi

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLimitersCapped(t *testing.T) {
	l := newLimiters(1, 2, 100)
	assert.True(t, l.allow("a"))
	assert.True(t, l.allow("a"))
	assert.False(t, l.allow("a"), "burst 2 spent")
	for i := range 500 {
		l.allow(fmt.Sprint("k", i))
	}
	assert.Equal(t, 100, l.len(), "the map never grows beyond its cap")
	assert.True(t, l.allow("a"), "a was dropped as least recently used and starts full")
}
