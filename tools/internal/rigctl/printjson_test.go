package rigctl

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPrintJSON: a value that encodes is printed indented (ExitOK); one
// that does not prints nothing on stdout, says why on stderr and fails
// the command.
func TestPrintJSON(t *testing.T) {
	for _, tc := range []struct {
		name             string
		v                any
		code             int
		stdout, inStderr string
	}{
		{"object", map[string]any{"agent_id": "a1", "revoked": true}, ExitOK, "{\n  \"agent_id\": \"a1\",\n  \"revoked\": true\n}\n", ""},
		{"raw", json.RawMessage(`{"id":1}`), ExitOK, "{\n  \"id\": 1\n}\n", ""},
		{"bad raw", json.RawMessage(`{"id":`), ExitFailure, "", "rigctl: print JSON: "},
		{"NaN", math.NaN(), ExitFailure, "", "unsupported value: NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := printJSON(Env{Stdout: &out, Stderr: &errb}, tc.v)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.stdout, out.String())
			if tc.inStderr == "" {
				assert.Empty(t, errb.String())
			} else {
				assert.Contains(t, errb.String(), tc.inStderr)
			}
		})
	}
}
