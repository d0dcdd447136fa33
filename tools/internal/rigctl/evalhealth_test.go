package rigctl

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/dataset/uci/ucitest"
)

// TestModelEvalHealth: `model eval` reports, beside each class head's
// accuracy, each condition target's component health in the diagnoses and
// the health head's, against the labels (review r1 finding 1: nothing
// measured health, and the shipped ZeMA health head's accumulator output
// was off by 0.23 on average).
func TestModelEvalHealth(t *testing.T) {
	needORT(t)
	data := "uci:" + ucitest.Subset(t, 10)
	code, out, errOut := runBin(t, "model", "eval", "--bundle", zemaBundle, "--dataset", data, "--json")
	require.Equal(t, ExitOK, code, errOut)
	var res evalJSON
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Contains(t, res.Targets, "accumulator", "the class heads' scores are kept")
	require.Len(t, res.Health, 4, "cooler, valve, pump, accumulator: stable is a flag")
	acc := res.Health["accumulator"]
	assert.Equal(t, "accumulator_a1", acc.Component)
	assert.Equal(t, res.N, acc.N)
	assert.Less(t, acc.HealthMAE, 0.05)
	assert.GreaterOrEqual(t, acc.StatusAgreement, 0.95)
	require.NotNil(t, acc.HeadHealthMAE, "the bundle has a health head")
	assert.Greater(t, *acc.HeadHealthMAE, 0.1, "the shipped health head is poor on the accumulator")

	code, out, errOut = runBin(t, "model", "eval", "--bundle", zemaBundle, "--dataset", data)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "status agreement")
	assert.Regexp(t, `accumulator\s+accumulator_a1\s+\d+\s+0\.0`, out)
}
