package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// The check-in answer names the highest seq stored for the credential's
// identity (absent while there is none), per enrollment generation: an
// agent that lost its numbering continues above it.
func TestCheckinNamesTheHighestSeq(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	b := e.tenant("beta")
	checkin := func(tn *tenant) (cloudapi.CheckinResponse, map[string]json.RawMessage) {
		t.Helper()
		cin := cloudapi.CheckinRequest{AgentID: tn.agent, RigID: tn.rig, RigType: tn.rigType, Time: time.Now()}
		r := e.do("POST", cloudapi.PathCheckin, tn.cred, cin)
		require.Equal(t, 200, r.code, "%s", r.body)
		var resp cloudapi.CheckinResponse
		r.decode(t, &resp)
		var raw map[string]json.RawMessage
		r.decode(t, &raw)
		return resp, raw
	}
	send := func(tn *tenant, seqs ...uint64) {
		t.Helper()
		var b cloudapi.DiagnosisBatch
		for i, s := range seqs {
			b = tn.batch(append(b.Diagnoses, tn.diagnosis(s, i, 0.9))...)
		}
		r := e.do("POST", cloudapi.PathDiagnoses, tn.cred, b)
		require.Equal(t, 200, r.code, "%s", r.body)
	}

	resp, raw := checkin(a)
	assert.Zero(t, resp.HighestSeq)
	assert.NotContains(t, raw, "highest_seq", "absent while none is stored")

	send(a, 3, 9, 4)
	send(b, 100)
	resp, raw = checkin(a)
	assert.Equal(t, uint64(9), resp.HighestSeq)
	assert.JSONEq(t, "9", string(raw["highest_seq"]))
	resp, _ = checkin(b)
	assert.Equal(t, uint64(100), resp.HighestSeq, "each agent its own")

	// A re-enrolled agent is a new identity: its seqs restart at 1 and
	// the earlier generation's do not count.
	a.cred = e.enroll(a, a.agent)
	resp, _ = checkin(a)
	assert.Equal(t, 2, resp.Generation)
	assert.Zero(t, resp.HighestSeq)
	send(a, 1)
	resp, _ = checkin(a)
	assert.Equal(t, uint64(1), resp.HighestSeq)
}
