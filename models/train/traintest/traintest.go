// Package traintest writes small synthetic data sets for tests of the
// trainer and of what runs it (models/pipeline, rig-cloud's worker).
package traintest

import (
	"math"
	"math/rand/v2"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// WriteUCI writes a small UCI-layout folder for cfg into dir: runs runs
// of runLen cycles with one random condition per run; each target's class
// shifts the level and the late-cycle slope of its component's sensors
// (rig-level targets shift every sensor slightly), plus noise. The same
// seed writes the same files.
func WriteUCI(dir string, cfg *rig.Config, runs, runLen int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	steps := int(cfg.Operation.CycleS)
	sensors := cfg.ActiveSensors()
	set := &uci.Set{Cycles: runs * runLen}
	for _, s := range sensors {
		set.Sensors = append(set.Sensors, s.UCIName())
	}
	set.Data = make([][][]float64, len(sensors))
	for s := range sensors {
		set.Data[s] = make([][]float64, set.Cycles)
	}
	c := 0
	for range runs {
		cls := make([]int, len(cfg.Targets))
		for j, tg := range cfg.Targets {
			cls[j] = rng.IntN(len(tg.Classes))
		}
		for range runLen {
			row := make([]float64, len(cfg.Targets))
			for j, tg := range cfg.Targets {
				row[j] = tg.Classes[cls[j]].Value
			}
			set.Profile = append(set.Profile, row)
			for s, sn := range sensors {
				v := make([]float64, steps)
				span := sn.Range.Max - sn.Range.Min
				for k := range v {
					x := 0.5 + 0.05*math.Sin(float64(k)/3+float64(s)) + 0.02*rng.NormFloat64()
					for j, tg := range cfg.Targets {
						if tg.Component == sn.Component {
							x += 0.08 * float64(cls[j]) * (1 + float64(k)/float64(steps))
						} else if tg.Component == "" {
							x += 0.02 * float64(cls[j])
						}
					}
					v[k] = sn.Range.Min + x*span*0.5
				}
				set.Data[s][c] = v
			}
			c++
		}
	}
	return uci.Write(dir, set)
}
