package rollout

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// A failure's detail is clipped to whole characters: PostgreSQL refuses
// text that is not valid UTF-8, which a cut inside a character made.
func TestObserveClipsDetailToWholeCharacters(t *testing.T) {
	rel := rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0"}
	lastErr := strings.Repeat("x", cloudapi.MaxTextLen-1) + "€ and more"
	req := &cloudapi.CheckinRequest{Model: &diag.ModelRef{Version: "1.0.0"},
		Update: &cloudapi.UpdateStatus{State: "failed", Installed: "1.0.0", Target: rel.Target, LastError: lastErr}}
	got := Observe(rolloutapi.AgentCanary, 7, rel, nil, req)
	assert.Equal(t, rolloutapi.AgentFailed, got.State)
	assert.True(t, utf8.ValidString(got.Detail))
	assert.Equal(t, strings.Repeat("x", cloudapi.MaxTextLen-1), got.Detail)
}
