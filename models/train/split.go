package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0xda3e39cb94b95bdb^stream))
}

// GroupedSplit splits window indices into train and validation by group:
// about frac of the groups (at least one, and at least one left for
// training) go to validation, chosen at random with seed. Every window of a
// group lands on the same side, so neighbouring near-duplicate windows of
// one run never straddle the split.
func GroupedSplit(groups []int, frac float64, seed uint64) (train, val []int) {
	ids := distinct(groups)
	if len(ids) < 2 {
		return seq(len(groups)), nil
	}
	r := newRand(seed, 1)
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	nv := int(float64(len(ids))*frac + 0.5)
	nv = max(1, min(nv, len(ids)-1))
	isVal := map[int]bool{}
	for _, g := range ids[:nv] {
		isVal[g] = true
	}
	for i, g := range groups {
		if isVal[g] {
			val = append(val, i)
		} else {
			train = append(train, i)
		}
	}
	return train, val
}

// StratifiedSplit splits window indices into train and validation at
// random (seed), stratified on the joint label of every target: about
// frac of the windows of each label combination go to validation (the
// deal of StratifiedKFold with round(1/frac) folds; validation is one
// fold). Neighbouring windows of one run land on both sides, which is
// what the literature's random-split protocol evaluates; GroupedSplit is
// the honest choice for the grouped protocol and for deployment.
func StratifiedSplit(labels [][]int, frac float64, seed uint64) (train, val []int) {
	k := int(math.Round(1 / frac))
	if frac <= 0 || k < 2 || k > len(labels) {
		return seq(len(labels)), nil
	}
	folds := stratifiedFolds(labels, k, newRand(seed, 5))
	return Complement(len(labels), folds[0]), folds[0]
}

// GroupedKFold assigns whole groups to k folds at random (seed), balancing
// the number of windows per fold greedily; it returns each fold's test
// indices.
func GroupedKFold(groups []int, k int, seed uint64) ([][]int, error) {
	ids := distinct(groups)
	if k < 2 || k > len(ids) {
		return nil, fmt.Errorf("%w: %d folds for %d groups", ErrData, k, len(ids))
	}
	size := map[int]int{}
	for _, g := range groups {
		size[g]++
	}
	r := newRand(seed, 2)
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	// Largest first (stable on the shuffled order), each to the lightest fold.
	slices.SortStableFunc(ids, func(a, b int) int { return size[b] - size[a] })
	fold := map[int]int{}
	load := make([]int, k)
	for _, g := range ids {
		f := slices.Index(load, slices.Min(load))
		fold[g] = f
		load[f] += size[g]
	}
	out := make([][]int, k)
	for i, g := range groups {
		out[fold[g]] = append(out[fold[g]], i)
	}
	return out, nil
}

// StratifiedKFold assigns windows to k folds at random (seed), stratified
// on the joint label of every target: the windows of each label
// combination are shuffled and dealt round-robin, continuing the deal
// across combinations so that fold sizes stay within one. It returns each
// fold's test indices.
func StratifiedKFold(labels [][]int, k int, seed uint64) ([][]int, error) {
	if k < 2 || k > len(labels) {
		return nil, fmt.Errorf("%w: %d folds for %d windows", ErrData, k, len(labels))
	}
	return stratifiedFolds(labels, k, newRand(seed, 3)), nil
}

func stratifiedFolds(labels [][]int, k int, r *rand.Rand) [][]int {
	strata := map[string][]int{}
	var keys []string
	for i, l := range labels {
		key := labelKey(l)
		if _, ok := strata[key]; !ok {
			keys = append(keys, key)
		}
		strata[key] = append(strata[key], i)
	}
	slices.Sort(keys)
	out := make([][]int, k)
	next := 0
	for _, key := range keys {
		idx := strata[key]
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx {
			out[next] = append(out[next], i)
			next = (next + 1) % k
		}
	}
	for f := range out {
		slices.Sort(out[f])
	}
	return out
}

// Complement returns the indices in [0, n) not in idx.
func Complement(n int, idx []int) []int {
	in := make([]bool, n)
	for _, i := range idx {
		in[i] = true
	}
	var out []int
	for i := range n {
		if !in[i] {
			out = append(out, i)
		}
	}
	return out
}

func labelKey(l []int) string {
	var b strings.Builder
	for j, v := range l {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

func distinct(groups []int) []int {
	seen := map[int]bool{}
	var ids []int
	for _, g := range groups {
		if !seen[g] {
			seen[g] = true
			ids = append(ids, g)
		}
	}
	return ids
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
