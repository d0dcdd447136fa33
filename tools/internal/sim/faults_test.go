package sim

import (
	"fmt"
	"math"
	"testing"

	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

// expect is one sensor's expected response to a fault: the mean over a
// window of the cycle must move by at least min in the direction dir, or,
// for dir 0, stay within tol of the healthy run.
type expect struct {
	sensor   string
	from, to float64 // window in seconds of the cycle (to 0: whole cycle)
	dir      int
	min, tol float64
	why      string
}

func up(s string, min float64, why string) expect {
	return expect{sensor: s, dir: 1, min: min, why: why}
}
func down(s string, min float64, why string) expect {
	return expect{sensor: s, dir: -1, min: min, why: why}
}
func same(s string, tol float64, why string) expect { return expect{sensor: s, tol: tol, why: why} }

func (e expect) in(from, to float64) expect { e.from, e.to = from, to; return e }

// TestFaultSignatures compares, for each fault, one cycle with the fault
// (active through warm-up, so temperatures have settled) with the healthy
// cycle of the same seed. The table states the physics: which sensors the
// fault must move, which way, and which must not move beyond noise.
func TestFaultSignatures(t *testing.T) {
	// ZeMA load program: valve V10 opens at 9 s (load 120 bar), the load
	// steps to 133 bar at 19 s; 25-28 s is steady.
	const open, step = 9.0, 19.0
	zema := []struct {
		name   string
		fault  scenario.Fault
		expect []expect
	}{
		{"pump leakage grade 2", scenario.Fault{Kind: scenario.Leakage, Component: "pump_mp1", Value: val(2)}, []expect{
			down("FS1", 0.2, "a laminar leak of 6 % of nominal flow at nominal pressure: 4 % of the delivery at 150 bar"),
			down("SE", 1, "less flow reaches the load for the same swept volume"),
			up("VS1", 0.03, "wear raises vibration 6 % per grade"),
			same("PS2", 0.5, "the load valve sets the load pressure"),
			same("FS2", 0.02, "the cooling circuit has its own pump"),
			same("PS5", 0.05, "cooling circuit"),
			same("PS6", 0.05, "cooling circuit"),
			same("TS1", 0.5, "no extra heat: with the load throttling everything the pump delivers, leakage only moves where the pump's power turns into heat"),
		}},
		{"cooler at 3 %", scenario.Fault{Kind: scenario.CoolerEfficiency, Component: "cooler_c1", Value: val(3)}, []expect{
			up("TS1", 10, "the tank settles where the weaker cooler removes the same heat"),
			up("TS2", 10, ""), up("TS3", 10, ""), up("TS4", 10, ""),
			down("CE", 15, "lower NTU"),
			down("CP", 0.2, "at equilibrium the hotter tank loses more heat to the room, the cooler removes less"),
			down("PS5", 0.5, "thinner oil: smaller viscous drop in the cooling circuit"),
			down("FS1", 0.1, "thinner oil: more internal pump leakage"),
			same("PS2", 1, "the load pressure is set by the load valve"),
		}},
		{"valve at 73 %", scenario.Fault{Kind: scenario.ValveCondition, Component: "valve_v10", Value: val(73)}, []expect{
			down("PS2", 10, "the load side fills later after the valve is switched open").in(open, open+1),
			up("PS1", 5, "the pump line stays near the relief setting while the valve opens").in(open, open+1),
			down("SE", 3, "the load gets less flow while the spool creeps the last quarter").in(open+1, open+3),
			same("PS1", 0.5, "once open, the valve is fully open").in(25, 28),
			same("PS2", 0.5, "").in(25, 28),
			same("FS2", 0.02, "cooling circuit"),
			same("PS5", 0.05, "cooling circuit"),
			same("TS1", 0.3, ""),
		}},
		{"accumulator pre-charge 90 bar", scenario.Fault{Kind: scenario.AccumulatorPrecharge, Component: "accumulator_a1", Value: val(90)}, []expect{
			down("PS2", 10, "below the 120 bar load the gas takes oil from 90 bar on: the load side rises slower").in(open, open+1),
			down("SE", 10, "the accumulator swallows the pump's flow while it charges").in(open+1, open+3),
			down("PS2", 1, "at the step to 133 bar the accumulator absorbs more oil per bar").in(step, step+1),
			same("PS2", 0.3, "no effect once pressures are steady").in(25, 28),
			same("PS1", 0.3, "").in(25, 28),
			same("FS2", 0.02, "cooling circuit"),
			same("TS1", 0.6, ""),
		}},
		{"filter clogged 60 %", scenario.Fault{Kind: scenario.FilterClogging, Component: "filter_f1", Value: val(60)}, []expect{
			up("PS5", 0.3, "the drop grows as 1/(1-clog)²: 6 times"),
			same("PS6", 0.05, "downstream of the filter"),
			same("FS1", 0.02, "working circuit"),
			same("PS1", 0.2, "working circuit"),
			same("PS2", 0.2, "working circuit"),
			same("TS1", 0.2, "a few watts more throttling"),
		}},
		{"cavitation 50 % at MP1", scenario.Fault{Kind: scenario.Cavitation, Component: "pump_mp1", Value: val(50)}, []expect{
			down("FS1", 0.4, "the chambers fill incompletely below 0.8 bar absolute inlet pressure"),
			up("VS1", 0.3, "cavitation noise and bursts"),
			down("EPS1", 100, "less swept volume, less shaft power"),
			same("FS2", 0.02, "cooling circuit"),
			same("PS6", 0.3, "cooling circuit (slightly cooler oil)"),
		}},
	}
	exc := []struct {
		name   string
		fault  scenario.Fault
		expect []expect
	}{
		{"return filter clogged 80 %", scenario.Fault{Kind: scenario.FilterClogging, Component: "filter", Value: val(80)}, []expect{
			up("DP_FILTER", 2, "25 times the clean drop"),
			up("P_BOOM_ROD", 1, "the return line's back-pressure reaches the actuators' return sides"),
			same("N_SWING", 5, "the swing speed is metered"),
		}},
		{"cooler at 3 %", scenario.Fault{Kind: scenario.CoolerEfficiency, Component: "cooler", Value: val(3)}, []expect{
			up("T_TANK", 3, "the actuators carry most of the power away as work, so less heat than on the test rig"),
			up("T_COOL_IN", 3, ""), up("T_COOL_OUT", 3, ""),
			down("DP_FILTER", 0.05, "thinner oil"),
			same("Q_PUMP", 0.5, "load sensing delivers what the valves meter"),
		}},
		{"pump leakage grade 2", scenario.Fault{Kind: scenario.Leakage, Component: "pump", Value: val(2)}, []expect{
			up("V_PUMP", 0.05, "wear"),
			up("T_COOL_IN", 0.2, "the load-sensing pump strokes up to cover the leak: more shaft power, more heat"),
			same("Q_PUMP", 0.5, "load sensing delivers what the valves meter"),
			same("P_PUMP", 1, ""),
		}},
		{"valve block at 73 %", scenario.Fault{Kind: scenario.ValveCondition, Component: "valve_block", Value: val(73)}, []expect{
			down("Q_PUMP", 5, "every section opens late and creeps"),
			down("N_SWING", 20, "the swing accelerates later").in(11, 14),
			same("DP_FILTER", 0.1, "").in(2, 4),
		}},
		{"cavitation 50 %", scenario.Fault{Kind: scenario.Cavitation, Component: "pump", Value: val(50)}, []expect{
			up("V_PUMP", 0.1, "cavitation noise and bursts"),
			same("Q_PUMP", 0.5, "the load-sensing pump has the headroom to stroke up"),
		}},
	}
	type tc struct {
		rig, name string
		fault     scenario.Fault
		expect    []expect
	}
	var cases []tc
	for _, c := range zema {
		cases = append(cases, tc{"zema-testrig.yaml", c.name, c.fault, c.expect})
	}
	for _, c := range exc {
		cases = append(cases, tc{"excavator.yaml", c.name, c.fault, c.expect})
	}
	for _, c := range cases {
		t.Run(c.rig+"/"+c.name, func(t *testing.T) {
			cfg := loadConfig(t, c.rig)
			base := healthy(t, c.rig, 7, 1)[0]
			got := run(t, cfg, 7, 1, c.fault)[0]
			sensors := cfg.ActiveSensors()
			for _, e := range c.expect {
				i := sensorIndex(t, cfg, e.sensor)
				b := windowMean(base, i, sensors[i].RateHz, e.from, e.to)
				g := windowMean(got, i, sensors[i].RateHz, e.from, e.to)
				d := g - b
				where := "cycle"
				if e.to > 0 {
					where = fmt.Sprintf("%g-%g s", e.from, e.to)
				}
				switch {
				case e.dir != 0 && (math.Copysign(1, d) != float64(e.dir) || math.Abs(d) < e.min):
					t.Errorf("%s (%s): healthy %.4g, faulty %.4g: want a change of at least %+g (%s)",
						e.sensor, where, b, g, float64(e.dir)*e.min, e.why)
				case e.dir == 0 && math.Abs(d) > e.tol:
					t.Errorf("%s (%s): healthy %.4g, faulty %.4g: want within %g (%s)", e.sensor, where, b, g, e.tol, e.why)
				}
			}
		})
	}
}

// TestFaultsMonotone checks that each UCI condition moves its main
// signature monotonically through the grades.
func TestFaultsMonotone(t *testing.T) {
	if testing.Short() {
		t.Skip("13 simulated runs")
	}
	cfg := loadConfig(t, "zema-testrig.yaml")
	cases := []struct {
		kind      scenario.Kind
		comp      string
		grades    []float64 // healthy first
		sensor    string
		from, to  float64
		direction int // of the sensor as the grades go on
	}{
		{scenario.Leakage, "pump_mp1", []float64{0, 1, 2}, "FS1", 0, 0, -1},
		{scenario.CoolerEfficiency, "cooler_c1", []float64{100, 20, 3}, "TS1", 0, 0, 1},
		{scenario.ValveCondition, "valve_v10", []float64{100, 90, 80, 73}, "PS2", 9, 10, -1},
		{scenario.AccumulatorPrecharge, "accumulator_a1", []float64{130, 115, 100, 90}, "PS2", 9, 10, -1},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			i := sensorIndex(t, cfg, c.sensor)
			rate := cfg.ActiveSensors()[i].RateHz
			prev := math.NaN()
			for _, g := range c.grades {
				cy := run(t, cfg, 3, 1, scenario.Fault{Kind: c.kind, Component: c.comp, Value: val(g)})[0]
				m := windowMean(cy, i, rate, c.from, c.to)
				if !math.IsNaN(prev) && math.Copysign(1, m-prev) != float64(c.direction) {
					t.Errorf("%s at %v: %s %.4g after %.4g: not monotone", c.kind, g, c.sensor, m, prev)
				}
				prev = m
			}
		})
	}
}
