package diag

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var trendT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// line returns n points every step from trendT0 on the line h0 + rate·hours,
// plus noise drawn uniformly from [-noise, noise] (a fixed seed).
func line(n int, step time.Duration, h0, rate, noise float64) []HealthPoint {
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([]HealthPoint, n)
	for i := range pts {
		t := trendT0.Add(time.Duration(i) * step)
		h := h0 + rate*t.Sub(trendT0).Hours() + noise*(2*rng.Float64()-1)
		pts[i] = HealthPoint{Time: t, Health: min(1, max(0, h))}
	}
	return pts
}

func TestEstimateRULLinear(t *testing.T) {
	// 0.9 falling 0.01 per hour, 12 points over 11 h: at the last point
	// 0.79, the critical band (0.5) 29 h later.
	pts := line(12, time.Hour, 0.9, -0.01, 0)
	tr, ok := FitTrend(pts, TrendOptions{})
	require.True(t, ok)
	assert.InDelta(t, -0.01, tr.Rate, 1e-12)
	assert.InDelta(t, 0, tr.RateSE, 1e-9)
	assert.InDelta(t, 0.79, tr.Health, 1e-12)
	assert.Equal(t, 12, tr.N)
	assert.Equal(t, 11*time.Hour, tr.Span)

	r := EstimateRUL(pts, TrendOptions{})
	require.NotNil(t, r)
	assert.InDelta(t, 29, r.P50Hours, 1e-6)
	assert.InDelta(t, 29, r.P10Hours, 1e-6, "no noise: no spread")
	assert.InDelta(t, 29, r.P90Hours, 1e-6)

	// Shuffled input: the same estimate.
	sh := append([]HealthPoint(nil), pts...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
	rs := EstimateRUL(sh, TrendOptions{})
	require.NotNil(t, rs)
	assert.InDelta(t, r.P50Hours, rs.P50Hours, 1e-9)

	// Another threshold: 0.7 is 9 h away.
	r = EstimateRUL(pts, TrendOptions{Threshold: HealthyAt})
	require.NotNil(t, r)
	assert.InDelta(t, 9, r.P50Hours, 1e-6)
}

func TestEstimateRULNoiseWidens(t *testing.T) {
	clean := EstimateRUL(line(48, 30*time.Minute, 0.95, -0.01, 0), TrendOptions{})
	noisy := EstimateRUL(line(48, 30*time.Minute, 0.95, -0.01, 0.05), TrendOptions{})
	require.NotNil(t, clean)
	require.NotNil(t, noisy)
	// The true line: 0.95 - 0.01·23.5 = 0.715 at the last point, 21.5 h
	// to 0.5.
	assert.InDelta(t, 21.5, clean.P50Hours, 1e-6)
	assert.InDelta(t, 21.5, noisy.P50Hours, 3, "noise moves the median a little")
	assert.Less(t, noisy.P10Hours, noisy.P50Hours)
	assert.Less(t, noisy.P50Hours, noisy.P90Hours)
	assert.Greater(t, noisy.P90Hours-noisy.P10Hours, 1.0, "noise widens p10-p90")
	assert.InDelta(t, 0, clean.P90Hours-clean.P10Hours, 1e-6)
}

func TestEstimateRULNone(t *testing.T) {
	h := func(hours float64, v float64) HealthPoint {
		return HealthPoint{Time: trendT0.Add(time.Duration(hours * float64(time.Hour))), Health: v}
	}
	nan := math.NaN()
	cases := []struct {
		name string
		pts  []HealthPoint
		o    TrendOptions
	}{
		{"nil", nil, TrendOptions{}},
		{"one point", []HealthPoint{h(0, 0.9)}, TrendOptions{}},
		{"flat", line(24, time.Hour, 0.9, 0, 0), TrendOptions{}},
		{"flat and noisy", line(48, 30*time.Minute, 0.9, 0, 0.05), TrendOptions{}},
		{"improving", line(24, time.Hour, 0.6, 0.01, 0), TrendOptions{}},
		{"too few points", line(5, time.Hour, 0.9, -0.01, 0), TrendOptions{}},
		{"too short a span", line(30, time.Minute, 0.9, -0.01, 0), TrendOptions{}},
		{"equal times", []HealthPoint{h(1, 0.9), h(1, 0.8), h(1, 0.7), h(1, 0.6), h(1, 0.5), h(1, 0.4)}, TrendOptions{}},
		{"beyond the horizon", line(24, time.Hour, 0.9, -1e-5, 0), TrendOptions{}},
		{"beyond a short horizon", line(12, time.Hour, 0.9, -0.01, 0), TrendOptions{MaxHorizon: 10 * time.Hour}},
		{"unknown windows ignored", []HealthPoint{h(0, 0.9), h(1, nan), h(2, -1), h(3, 2), h(4, nan), h(5, 0.85), {Health: 0.1}}, TrendOptions{}},
		{"old points outside the window", append(line(6, time.Hour, 0.9, -0.01, 0),
			HealthPoint{Time: trendT0.Add(48 * time.Hour), Health: 0.5}), TrendOptions{}},
		{"a decline the noise does not show", line(6, time.Hour, 0.9, -0.005, 0.2), TrendOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Nil(t, EstimateRUL(c.pts, c.o))
		})
	}
}

func TestEstimateRULAlreadyCritical(t *testing.T) {
	r := EstimateRUL(line(12, time.Hour, 0.6, -0.02, 0), TrendOptions{})
	require.NotNil(t, r)
	assert.Equal(t, RUL{}, *r, "at 0.38 and declining: no time left")
}

func TestEstimateRULP90Capped(t *testing.T) {
	// A slow, noisy decline: the shallow slope's projection is past the
	// horizon, P90 stops there.
	o := TrendOptions{MaxHorizon: 200 * time.Hour}
	r := EstimateRUL(line(200, 10*time.Minute, 0.95, -0.003, 0.03), o)
	require.NotNil(t, r)
	assert.LessOrEqual(t, r.P90Hours, 200.0)
	assert.LessOrEqual(t, r.P50Hours, r.P90Hours)
}

func TestTQuantile(t *testing.T) {
	// Beyond the table, the expansion: 40 and 120 degrees of freedom.
	assert.InDelta(t, 1.303, tQuantile90(40), 1e-3)
	assert.InDelta(t, 2.021, tQuantile975(40), 1e-3)
	assert.InDelta(t, 1.289, tQuantile90(120), 1e-3)
	assert.InDelta(t, 1.980, tQuantile975(120), 1e-3)
	assert.Equal(t, 12.706, tQuantile975(0), "df below 1 counts as 1")
	// Continuous at the table's end.
	assert.InDelta(t, tQuantile975(30), tQuantile975(31), 3e-3)
}

// FuzzEstimateRUL decodes points from bytes (8 bytes of seconds and 8 of
// health bits each, so NaN, infinities, equal and reversed times all
// occur) and checks the estimate is either nil or finite, non-negative,
// ordered and within the horizon.
func FuzzEstimateRUL(f *testing.F) {
	enc := func(pts []HealthPoint) []byte {
		var b []byte
		for _, p := range pts {
			b = binary.LittleEndian.AppendUint64(b, uint64(p.Time.Unix()))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Health))
		}
		return b
	}
	f.Add(enc(line(12, time.Hour, 0.9, -0.01, 0)), int64(0))
	f.Add(enc(line(48, 30*time.Minute, 0.95, -0.01, 0.05)), int64(3600))
	f.Add(enc([]HealthPoint{{trendT0, math.NaN()}, {trendT0, 0.5}}), int64(1))
	f.Add([]byte{}, int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, horizonS int64) {
		var pts []HealthPoint
		for len(b) >= 16 {
			s := int64(binary.LittleEndian.Uint64(b)) % (1 << 40)
			h := math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
			pts = append(pts, HealthPoint{Time: time.Unix(s, 0), Health: h})
			b = b[16:]
		}
		o := TrendOptions{MaxHorizon: time.Duration(horizonS%(1<<30)) * time.Second}
		r := EstimateRUL(pts, o)
		if r == nil {
			return
		}
		capH := o.withDefaults().MaxHorizon.Hours()
		for _, v := range []float64{r.P10Hours, r.P50Hours, r.P90Hours} {
			if !(v >= 0) || math.IsInf(v, 0) || v > capH {
				t.Fatalf("quantile %v not in [0, %v]: %+v", v, capH, r)
			}
		}
		if !(r.P10Hours <= r.P50Hours && r.P50Hours <= r.P90Hours) {
			t.Fatalf("quantiles out of order: %+v", r)
		}
	})
}
