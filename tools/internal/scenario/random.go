package scenario

import (
	"fmt"
	"math/rand/v2"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// RandomOptions configure Random. Zero fields take the defaults given.
type RandomOptions struct {
	// Cycles is the number of cycles to cover (required, > 0).
	Cycles int
	// Seed makes the draw reproducible: the same config, options and seed
	// give the same scenario.
	Seed uint64
	// MinRun and MaxRun bound the length in cycles of a run of constant
	// conditions (0: 4 and 20; the UCI data set has 194 runs in 2205
	// cycles, about 11 cycles each).
	MinRun, MaxRun int
	// ChangeProb is the probability that a target's class changes at a
	// run boundary, independently of the others, with at least one
	// changing. Zero: exactly one target, drawn at random, changes at
	// each boundary, so that each condition (a cooler's, whose thermal
	// effect takes tens of cycles to settle, too) stays put for several
	// runs, as in the UCI data set.
	ChangeProb float64
}

// Random draws a UCI-like scenario for cfg: the run is cut into runs of
// constant conditions of random length in [MinRun, MaxRun] cycles; the first
// run gives every condition target a random class value, and each later run
// changes one of them (see ChangeProb) to another class value.
// It fails when cfg has no condition target the simulator can set.
func Random(cfg *rig.Config, opts RandomOptions) (*Scenario, error) {
	if cfg == nil {
		return nil, fmt.Errorf("scenario: random: nil firmware config")
	}
	if opts.Cycles <= 0 || opts.Cycles > MaxCycle {
		return nil, fmt.Errorf("scenario: random: cycles must be in [1, %d], got %d", MaxCycle, opts.Cycles)
	}
	if opts.MinRun == 0 {
		opts.MinRun = 4
	}
	if opts.MaxRun == 0 {
		opts.MaxRun = max(20, opts.MinRun)
	}
	if opts.MinRun < 1 || opts.MaxRun < opts.MinRun {
		return nil, fmt.Errorf("scenario: random: want 1 <= min run <= max run, got %d and %d", opts.MinRun, opts.MaxRun)
	}
	if !(opts.ChangeProb >= 0 && opts.ChangeProb <= 1) {
		return nil, fmt.Errorf("scenario: random: change probability must be in [0, 1], got %v", opts.ChangeProb)
	}
	type target struct {
		t    *rig.Target
		kind Kind
		unit string
		cur  int // class index
		from int // first cycle of the current value
	}
	var ts []*target
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Kind != rig.TargetCondition {
			continue
		}
		k, err := TargetKind(cfg, t)
		if err != nil {
			return nil, fmt.Errorf("scenario: random: %w", err)
		}
		if len(t.Classes) < 2 {
			continue
		}
		tg := &target{t: t, kind: k}
		if k == AccumulatorPrecharge {
			tg.unit = targetUnit(t)
		}
		ts = append(ts, tg)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("scenario: random: rig %s has no condition target whose classes the simulator can set; give a scenario file instead", cfg.RigType)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5ce4a110))
	s := &Scenario{Faults: []Fault{}}
	emit := func(tg *target, last int) {
		v := tg.t.Classes[tg.cur].Value
		s.Faults = append(s.Faults, Fault{Kind: tg.kind, Component: tg.t.Component, Value: &v,
			Unit: tg.unit, Cycles: []int{tg.from, last}})
	}
	for _, tg := range ts {
		tg.cur = rng.IntN(len(tg.t.Classes))
		tg.from = 1
	}
	cycle := 1
	for {
		n := opts.MinRun + rng.IntN(opts.MaxRun-opts.MinRun+1)
		cycle += n
		if cycle > opts.Cycles {
			break
		}
		change := func(tg *target) {
			emit(tg, cycle-1)
			next := rng.IntN(len(tg.t.Classes) - 1)
			if next >= tg.cur {
				next++
			}
			tg.cur, tg.from = next, cycle
		}
		if opts.ChangeProb == 0 {
			change(ts[rng.IntN(len(ts))])
			continue
		}
		changed := false
		for !changed {
			for _, tg := range ts {
				if rng.Float64() < opts.ChangeProb {
					change(tg)
					changed = true
				}
			}
		}
	}
	for _, tg := range ts {
		emit(tg, opts.Cycles)
	}
	return s, nil
}
