package diag

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// ev builds one Evidence; drv marks a driver (anomaly score >= 1).
func ev(id string, k rig.SensorKind, port rig.Port, drv bool, z float64) Evidence {
	return Evidence{Sensor: id, Kind: k, Port: port, Driver: drv, Z: z}
}

func TestNameAnomaly(t *testing.T) {
	const (
		yes = true
		no  = false
	)
	for _, tc := range []struct {
		name    string
		ct      rig.ComponentType
		ev      []Evidence
		want    rig.Fault // "": unexplained
		sensors []string
		reason  string
	}{
		// Each of the nine anomaly types.
		{"overheating", rig.Reservoir, []Evidence{ev("TS1", rig.KindTemperature, "", yes, 4.1)},
			rig.FaultOverheating, []string{"TS1"}, "TS1 4.1 sd above normal: overheating suspected (one sensor: check TS1 against a second reading, a sensor offset or drift reads the same)"},
		{"overheating, both cooler temperatures", rig.HeatExchanger, []Evidence{
			ev("T_IN", rig.KindTemperature, rig.PortIn, yes, 3), ev("T_OUT", rig.KindTemperature, rig.PortOut, yes, 3.5)},
			rig.FaultOverheating, []string{"T_IN", "T_OUT"}, "T_IN 3.0 sd above normal, T_OUT 3.5 sd above normal: overheating suspected"},
		{"pressure drop", rig.Valve, []Evidence{ev("PS2", rig.KindPressure, rig.PortOut, yes, -2.5)},
			rig.FaultPressureDrop, []string{"PS2"}, "PS2 2.5 sd below normal: pressure drop suspected (one sensor: check PS2 against a second reading, a sensor offset or drift reads the same)"},
		{"vibration", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 5),
			ev("PS1", rig.KindPressure, rig.PortOut, yes, 0.1)},
			rig.FaultVibration, []string{"VS1"}, "VS1 5.0 sd above normal: vibration suspected (one sensor: check VS1 against a second reading, a sensor offset or drift reads the same)"},
		{"vibration from acceleration", rig.Motor, []Evidence{ev("A1", rig.KindAcceleration, "", yes, 2)},
			rig.FaultVibration, []string{"A1"}, ""},
		{"cavitation", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 3),
			ev("P_IN", rig.KindPressure, rig.PortIn, no, -2.2)},
			rig.FaultCavitation, []string{"VS1", "P_IN"}, "VS1 3.0 sd above normal, P_IN 2.2 sd below normal: cavitation suspected"},
		{"cavitation, inlet pressure a driver", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 3),
			ev("P_IN", rig.KindPressure, rig.PortIn, yes, -3)},
			rig.FaultCavitation, []string{"VS1", "P_IN"}, ""},
		{"leakage on a pump", rig.Pump, []Evidence{ev("FS1", rig.KindFlow, rig.PortOut, yes, -2.5),
			ev("PS1", rig.KindPressure, rig.PortOut, no, -2.1)},
			rig.FaultLeakage, []string{"FS1", "PS1"}, "FS1 2.5 sd below normal, PS1 2.1 sd below normal: leakage suspected"},
		{"leakage on a motor", rig.Motor, []Evidence{ev("P", rig.KindPressure, rig.PortIn, yes, -3),
			ev("Q", rig.KindFlow, rig.PortIn, no, -2)},
			rig.FaultLeakage, []string{"P", "Q"}, ""},
		{"flow restriction", rig.Pump, []Evidence{ev("FS1", rig.KindFlow, rig.PortOut, yes, -3),
			ev("PS1", rig.KindPressure, rig.PortOut, no, 0.4)},
			rig.FaultFlowRestriction, []string{"FS1", "PS1"}, "FS1 3.0 sd below normal, PS1 0.4 sd above normal: flow restriction suspected"},
		{"flow restriction on a filter", rig.Filter, []Evidence{ev("DP", rig.KindDiffPressure, "", yes, 3),
			ev("F", rig.KindFlow, "", no, -2.5)},
			rig.FaultFlowRestriction, []string{"DP", "F"}, ""},
		{"contamination from a filter's loading", rig.Filter, []Evidence{ev("DP", rig.KindDiffPressure, "", yes, 2.6)},
			rig.FaultContamination, []string{"DP"}, "DP 2.6 sd above normal: contamination (filter loading) suspected (one sensor: check DP against a second reading, a sensor offset or drift reads the same)"},
		{"contamination sensor", rig.Reservoir, []Evidence{ev("ISO", rig.KindContamination, "", yes, 2.2)},
			rig.FaultContamination, []string{"ISO"}, ""},
		{"seal degradation", rig.Cylinder, []Evidence{ev("P_HEAD", rig.KindPressure, rig.PortIn, yes, -2.4),
			ev("Q_CYL", rig.KindFlow, rig.PortIn, yes, -2.2)},
			rig.FaultSealDegradation, []string{"Q_CYL", "P_HEAD"}, ""},
		{"valve stiction", rig.Valve, []Evidence{ev("X_SPOOL", rig.KindPosition, "", yes, -2.3)},
			rig.FaultValveStiction, []string{"X_SPOOL"}, "X_SPOOL 2.3 sd below normal: valve stiction suspected (one sensor: check X_SPOOL against a second reading, a sensor offset or drift reads the same)"},

		// Unexplained: small deviations.
		{"temperature just under the threshold", rig.Reservoir, []Evidence{ev("TS1", rig.KindTemperature, "", yes, 1.99)}, "", nil, ""},
		{"shape anomaly, level normal", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 0.3),
			ev("PS1", rig.KindPressure, rig.PortOut, yes, -0.2)}, "", nil, ""},
		{"clear deviation on no driver", rig.Reservoir, []Evidence{ev("TS1", rig.KindTemperature, "", no, 5)}, "", nil, ""},
		// Unexplained: the direction has no rule.
		{"cold oil", rig.Reservoir, []Evidence{ev("TS1", rig.KindTemperature, "", yes, -3)}, "", nil, ""},
		{"pressure above normal", rig.Cylinder, []Evidence{ev("P", rig.KindPressure, rig.PortIn, yes, 3)}, "", nil, ""},
		{"flow down without a pressure", rig.Pump, []Evidence{ev("FS1", rig.KindFlow, rig.PortOut, yes, -3)}, "", nil, ""},
		{"position on a cylinder", rig.Cylinder, []Evidence{ev("X", rig.KindPosition, "", yes, 3)}, "", nil, ""},
		{"speed", rig.Engine, []Evidence{ev("N", rig.KindSpeed, "", yes, -4)}, "", nil, ""},
		// Unexplained: ambiguous.
		{"hot and vibrating", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 3),
			ev("TS", rig.KindTemperature, "", yes, 3)}, "", nil, ""},
		{"a rule plus a clear deviation no rule explains", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 3),
			ev("PS1", rig.KindPressure, rig.PortOut, yes, 4)}, "", nil, ""},
		{"leakage and restriction both", rig.Pump, []Evidence{ev("FS1", rig.KindFlow, rig.PortOut, yes, -3),
			ev("PS1", rig.KindPressure, rig.PortOut, no, -3), ev("PS2", rig.KindPressure, rig.PortOut, no, 0)}, "", nil, ""},
		{"cavitation needs an inlet", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, 3),
			ev("PS1", rig.KindPressure, rig.PortOut, yes, -3)}, "", nil, ""},
		{"no evidence", rig.Pump, nil, "", nil, ""},
		{"non-finite means are ignored", rig.Pump, []Evidence{ev("VS1", rig.KindVibration, "", yes, math.NaN()),
			ev("T", rig.KindTemperature, "", yes, math.Inf(1))}, "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := NameAnomaly(tc.ct, tc.ev)
			if tc.want == "" {
				assert.False(t, ok, "named %+v", n)
				assert.Zero(t, n)
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

// TestNameAnomalyCoversTheNineTypes: every anomaly type of the earlier
// service has a rule (the table above names each).
func TestNameAnomalyCoversTheNineTypes(t *testing.T) {
	named := map[rig.Fault]bool{}
	for _, ct := range rig.ComponentTypes {
		for _, k := range rig.SensorKinds {
			for _, k2 := range rig.SensorKinds {
				for _, z := range []float64{-3, 3} {
					for _, z2 := range []float64{-3, 0, 3} {
						n, ok := NameAnomaly(ct, []Evidence{ev("A", k, rig.PortIn, true, z), ev("B", k2, rig.PortIn, false, z2)})
						if ok {
							named[n.Fault] = true
						}
					}
				}
			}
		}
	}
	for _, f := range rig.Faults[:9] {
		assert.True(t, named[f], "no rule names %s", f)
	}
}

// FuzzNameAnomaly: whatever the evidence, a named fault is one of
// rig.Faults, its sensors are drivers' or the component's, one of them a
// driver that deviates clearly, and the reason names them.
func FuzzNameAnomaly(f *testing.F) {
	f.Add(uint8(0), uint8(4), uint8(3), true, 4.1, uint8(0), uint8(0), false, 0.0)
	f.Add(uint8(1), uint8(4), uint8(1), true, 3.0, uint8(0), uint8(1), false, -2.2)
	f.Fuzz(func(t *testing.T, ct, k1, p1 uint8, d1 bool, z1 float64, k2, p2 uint8, d2 bool, z2 float64) {
		typ := rig.ComponentTypes[int(ct)%len(rig.ComponentTypes)]
		es := []Evidence{
			ev("A", rig.SensorKinds[int(k1)%len(rig.SensorKinds)], rig.Ports[int(p1)%len(rig.Ports)], d1, z1),
			ev("B", rig.SensorKinds[int(k2)%len(rig.SensorKinds)], rig.Ports[int(p2)%len(rig.Ports)], d2, z2),
		}
		n, ok := NameAnomaly(typ, es)
		if !ok {
			return
		}
		if !slices.Contains(rig.Faults[:9], n.Fault) {
			t.Fatalf("named %q, not one of the nine anomaly types", n.Fault)
		}
		clear := false
		for _, e := range es {
			if slices.Contains(n.Sensors, e.Sensor) && e.Driver && math.Abs(e.Z) >= RuleClear {
				clear = true
			}
		}
		if !clear || n.Reason == "" {
			t.Fatalf("named %+v without a driver that deviates clearly: %+v", n, es)
		}
	})
}
