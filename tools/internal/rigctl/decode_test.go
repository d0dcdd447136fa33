package rigctl

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAnswerNotDecoded: a command whose answer does not decode fails,
// naming the command and the request, instead of printing a zero value.
func TestAnswerNotDecoded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"not a number","rig_id":7,"state":[]}`))
	}))
	t.Cleanup(srv.Close)
	rigctlEnv(t, srv.URL, "rgt_test")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "status", "1"}, "rigctl: rollout status 1: decode the answer to GET /v1/rollouts/1: json: cannot unmarshal"},
		{[]string{"rollout", "pause", "1"}, "rigctl: rollout pause 1: decode the answer to POST /v1/rollouts/1/pause: json: cannot unmarshal"},
		{[]string{"rollout", "label", "zema-1", "line=a"}, "rigctl: rollout label zema-1: decode the answer to PUT /v1/rigs/zema-1/labels: json: cannot unmarshal"},
		{[]string{"uploads", "cancel", "up-1"}, "rigctl: uploads cancel up-1: decode the answer to POST /v1/uploads/up-1/cancel: json: cannot unmarshal"},
		{[]string{"uploads", "request", "--rig", "zema-1", "--from", "2025-03-01T00:00:00Z", "--to", "2025-03-02T00:00:00Z"},
			"rigctl: uploads request: decode the answer to POST /v1/uploads: json: cannot unmarshal"},
	} {
		code, stdout, stderr := run(t, c.args...)
		assert.Equal(t, ExitFailure, code, "%v: %s", c.args, stdout)
		assert.Contains(t, stderr, c.want, "%v", c.args)
		assert.Empty(t, stdout, "%v", c.args)
	}

	var out published
	err := decodeAnswer("POST /v1/releases", json.RawMessage(`{"path":1}`), &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode the answer to POST /v1/releases: json: cannot unmarshal number into Go struct field published.path of type string")
}
