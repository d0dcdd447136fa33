package diag

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestNameAnomalyReviewCases: the cases review r3 found misnamed (pump
// suction starvation read as leakage, a filter's outlet pressure read as
// a pressure drop, leakage lost to a second pressure), a spread too
// small to be normal variation, and a single-sensor rule's reason.
func TestNameAnomalyReviewCases(t *testing.T) {
	const (
		yes = true
		no  = false
	)
	floored := func(e Evidence, std, span float64) Evidence { e.Std, e.Span = std, span; return e }
	for _, tc := range []struct {
		name    string
		ct      rig.ComponentType
		ev      []Evidence
		want    rig.Fault // "": unexplained
		sensors []string
		reason  string
	}{
		{"flow and inlet pressure down on a pump: suction starvation, not leakage", rig.Pump, []Evidence{
			ev("F", rig.KindFlow, rig.PortOut, yes, -3), ev("P_IN", rig.KindPressure, rig.PortIn, no, -3)},
			rig.FaultCavitation, []string{"F", "P_IN"}, "F 3.0 sd below normal, P_IN 3.0 sd below normal: cavitation (suction starvation) suspected"},
		{"flow, inlet pressure and vibration on a pump: cavitation", rig.Pump, []Evidence{
			ev("F", rig.KindFlow, rig.PortOut, yes, -3), ev("P_IN", rig.KindPressure, rig.PortIn, no, -3),
			ev("V", rig.KindVibration, "", yes, 3)},
			rig.FaultCavitation, []string{"V", "P_IN", "F"}, ""},
		{"outlet pressure down on a motor is still leakage", rig.Motor, []Evidence{
			ev("Q", rig.KindFlow, rig.PortIn, yes, -3), ev("P", rig.KindPressure, rig.PortIn, no, -3)},
			rig.FaultLeakage, []string{"Q", "P"}, ""},
		{"filter outlet pressure down, inlet normal: flow restriction", rig.Filter, []Evidence{
			ev("PS5", rig.KindPressure, rig.PortIn, no, 0.5), ev("PS6", rig.KindPressure, rig.PortOut, yes, -3)},
			rig.FaultFlowRestriction, []string{"PS6", "PS5"}, "PS6 3.0 sd below normal, PS5 0.5 sd above normal: flow restriction (filter loading) suspected"},
		{"filter outlet and inlet pressure down: upstream, unexplained", rig.Filter, []Evidence{
			ev("PS5", rig.KindPressure, rig.PortIn, no, -3), ev("PS6", rig.KindPressure, rig.PortOut, yes, -3)}, "", nil, ""},
		{"filter outlet pressure down, no inlet sensor: unexplained", rig.Filter, []Evidence{
			ev("PS6", rig.KindPressure, rig.PortOut, yes, -3)}, "", nil, ""},
		{"leakage over pressure drop with two pressures down", rig.Pump, []Evidence{
			ev("F", rig.KindFlow, rig.PortOut, yes, -3), ev("P1", rig.KindPressure, rig.PortOut, yes, -3),
			ev("P2", rig.KindPressure, rig.PortOut, yes, -3)},
			rig.FaultLeakage, []string{"F", "P1", "P2"}, ""},
		{"seal degradation with two pressures down", rig.Cylinder, []Evidence{
			ev("Q", rig.KindFlow, rig.PortIn, yes, -3), ev("P_HEAD", rig.KindPressure, rig.PortIn, yes, -3),
			ev("P_ROD", rig.KindPressure, rig.PortOut, no, -2.5)},
			rig.FaultSealDegradation, []string{"Q", "P_HEAD", "P_ROD"}, ""},
		{"filter restriction with two flows down", rig.Filter, []Evidence{
			ev("DP", rig.KindDiffPressure, "", yes, 3), ev("F1", rig.KindFlow, rig.PortIn, no, -3),
			ev("F2", rig.KindFlow, rig.PortOut, yes, -3)},
			rig.FaultFlowRestriction, []string{"DP", "F1", "F2"}, ""},
		// A tiny spread: SKAB's Thermocouple, std 0.043 on a 120 degC
		// range, 2 degC warm is 46 sd of the file it was calibrated
		// on but 8 sd of the 0.24 degC floor; 0.3 degC warm (7 sd) is
		// 1.25 sd of the floor, not named.
		{"spread floored: a large shift still named", rig.Reservoir, []Evidence{
			floored(ev("TC", rig.KindTemperature, "", yes, 2/0.043), 0.043, 120)},
			rig.FaultOverheating, []string{"TC"}, "TC 8.3 sd above normal: overheating suspected (one sensor: check TC against a second reading, a sensor offset or drift reads the same)"},
		{"spread floored: hundredths of a degree are not", rig.Reservoir, []Evidence{
			floored(ev("TC", rig.KindTemperature, "", yes, 0.3/0.043), 0.043, 120)}, "", nil, ""},
		{"spread above the floor is unchanged", rig.Reservoir, []Evidence{
			floored(ev("T", rig.KindTemperature, "", yes, 3), 6, 170)},
			rig.FaultOverheating, []string{"T"}, "T 3.0 sd above normal: overheating suspected (one sensor: check T against a second reading, a sensor offset or drift reads the same)"},
		{"two sensors: no sensor-offset clause", rig.HeatExchanger, []Evidence{
			ev("T_IN", rig.KindTemperature, rig.PortIn, yes, 3), ev("T_OUT", rig.KindTemperature, rig.PortOut, yes, 3.5)},
			rig.FaultOverheating, []string{"T_IN", "T_OUT"}, "T_IN 3.0 sd above normal, T_OUT 3.5 sd above normal: overheating suspected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := NameAnomaly(tc.ct, tc.ev)
			if tc.want == "" {
				assert.False(t, ok, "named %+v", n)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, n.Fault)
			assert.Equal(t, tc.sensors, n.Sensors)
			if tc.reason != "" {
				assert.Equal(t, tc.reason, n.Reason)
			}
		})
	}
}
