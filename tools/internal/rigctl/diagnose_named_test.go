package rigctl

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDiagnoseTankSensorOffsetSuspectedOverheating: T_TANK reading 30 K
// high (a sensor_offset fault, about 3 sd above the shipped excavator
// bundle's normal) makes the anomaly head flag the tank (no class head
// covers it). One sensor's level cannot tell hot oil from an offset
// sensor, so `rigctl diagnose` names the finding overheating only as
// suspected: the reason gives the evidence, says "suspected" and asks
// for T_TANK to be checked against a second reading. This is not proof
// that the rules detect overheating; the injected fault is the sensor's.
// It was an unexplained anomaly (fault "") before. The shipped bundle's
// class heads blame the simulator's cavitation (pump leakage) and filter
// clogging (filter flow_restriction) themselves, and its anomaly head's
// other findings on those runs are shape changes, not shifted means: no
// rule names them (docs/inference.md, "Naming anomalies"). Healthy
// cycles get no rule-named fault.
func TestDiagnoseTankSensorOffsetSuspectedOverheating(t *testing.T) {
	needORT(t)
	hot := "faults:\n  - {kind: sensor_offset, sensor: T_TANK, value: 30}\n"
	data := "sim:" + simulate(t, excavatorRig, hot, 6)
	code, out, errOut := runBin(t, "diagnose", "--bundle", excavatorBundle, "--dataset", data, "--json")
	require.Equal(t, ExitOK, code, errOut)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n, named := 0, 0
	for sc.Scan() {
		var d diag.Diagnosis
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
		n++
		for i, a := range d.Anomalies {
			if len(a.Components) != 1 || a.Components[0] != "tank" {
				continue
			}
			assert.Equal(t, rig.FaultOverheating, a.Fault, "cycle %d: %+v", n, d.Anomalies[i])
			assert.Equal(t, []string{"T_TANK"}, a.Sensors)
			assert.Less(t, a.Confidence, diag.RuleConfidence)
			named++
		}
		for _, r := range d.Recommendations {
			if r.Component == "tank" {
				assert.Contains(t, r.Reason, "sd above normal: overheating suspected (one sensor: check T_TANK against a second reading, "+
					"a sensor offset or drift reads the same)")
			}
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, 6, n)
	assert.GreaterOrEqual(t, named, 5, "the anomaly head flags the hot tank in most cycles")

	s := diagnoseSummaryOf(t, excavatorBundle, data)
	assert.Equal(t, named, s.Findings[string(rig.FaultOverheating)])

	// Healthy cycles: the anomaly head's few findings stay unexplained.
	s = diagnoseSummaryOf(t, excavatorBundle, "sim:"+simulate(t, excavatorRig, "", 6))
	for f := range s.Findings {
		assert.Contains(t, []string{"unexplained", string(rig.FaultPrechargeLoss)}, f, "healthy cycles: %v", s.Findings)
	}
}
