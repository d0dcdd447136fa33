package cloudapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeCheckinResponseOffer(t *testing.T) {
	const head = `{"server_time":"2025-03-01T12:00:00Z","next_checkin_s":60,"future_field":{"a":1}`
	r, err := DecodeCheckinResponse([]byte(head + `}`))
	require.NoError(t, err, "unknown envelope fields are ignored")
	assert.Nil(t, r.Offer)
	assert.Equal(t, 60, r.NextCheckinS)

	r, err = DecodeCheckinResponse([]byte(head + `,"offer":{"target":"zema-testrig/zema-testrig-1.1.0.tar.gz","version":"1.1.0","rollout":3}}`))
	require.NoError(t, err)
	require.NotNil(t, r.Offer)
	assert.Equal(t, Offer{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", Rollout: 3}, *r.Offer)

	bad := []struct{ offer, want string }{
		{`{"target":"a/b.tar.gz","version":"1","extra":1}`, `unknown field "extra"`},
		{`{"target":"../etc/passwd","version":"1"}`, "/offer/target"},
		{`{"target":"a//b","version":"1"}`, "/offer/target"},
		{`{"target":".incoming/x","version":"1"}`, "/offer/target"},
		{`{"target":"a/b/c/d/e/f/g/h/i","version":"1"}`, "/offer/target"},
		{`{"target":"a/b.tar.gz","version":""}`, "/offer/version"},
		{`{"target":"a/b.tar.gz","version":"1","rollout":-1}`, "/offer/rollout"},
		{`{"target":1}`, "cannot unmarshal"},
	}
	for _, c := range bad {
		t.Run(c.offer, func(t *testing.T) {
			r, err := DecodeCheckinResponse([]byte(head + `,"offer":` + c.offer + `}`))
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrBadOffer), "%v", err)
			require.NotNil(t, r, "the rest of the answer is kept")
			assert.Nil(t, r.Offer)
			assert.Equal(t, 60, r.NextCheckinS)
			var p *Problem
			if errors.As(err, &p) {
				msg := ""
				for _, e := range p.Errors {
					msg += e.Pointer + " "
				}
				assert.Contains(t, msg, c.want)
			} else {
				assert.Contains(t, err.Error(), c.want)
			}
		})
	}
	for _, body := range []string{`[]`, `{"next_checkin_s":"x"}`, head + `} {}`, ``} {
		r, err := DecodeCheckinResponse([]byte(body))
		assert.Nil(t, r, body)
		assert.Error(t, err, body)
		assert.False(t, errors.Is(err, ErrBadOffer), body)
	}
	assert.True(t, ValidTarget("zema-testrig/zema-testrig-1.1.0.tar.gz"))
	assert.False(t, ValidTarget(strings.Repeat("a", MaxTextLen+1)))
}
