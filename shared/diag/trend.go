package diag

import (
	"math"
	"time"
)

// A trend-based remaining useful life: no data set this project trains on
// has RUL labels, so the edge agent does not learn one. Instead it
// extrapolates the trend of a component's health: a least-squares line
// through the component's recent health (HealthPoint), projected to the
// critical band (health below CriticalBelow). The estimate is model-free
// and honest about what it is: a straight line through hours of history,
// not a learned prognosis. It says nothing about a fault that is
// sudden, it assumes the decline goes on at the rate it had, and it needs
// hours of history before it says anything.

// Defaults of TrendOptions.
const (
	// DefaultTrendWindow is how far back from the newest point the line
	// is fitted.
	DefaultTrendWindow = 24 * time.Hour
	// DefaultTrendMinPoints is the fewest points fitted.
	DefaultTrendMinPoints = 6
	// DefaultTrendMinSpan is the shortest time the points must span.
	DefaultTrendMinSpan = time.Hour
	// DefaultTrendMaxHorizon caps the projection: a P50 beyond it is no
	// estimate, and P90 is at most it.
	DefaultTrendMaxHorizon = 365 * 24 * time.Hour
)

// HealthPoint is one observation of a component's health: its health in
// [0, 1] (ComponentHealth.Health) in the window that ended at Time.
type HealthPoint struct {
	Time   time.Time
	Health float64
}

// TrendOptions configure FitTrend and EstimateRUL. Zero values mean the
// stated defaults.
type TrendOptions struct {
	// Window keeps the points at most this long before the newest one
	// (0: DefaultTrendWindow).
	Window time.Duration
	// MinPoints is the fewest points the fit needs (0:
	// DefaultTrendMinPoints; values below 3 count as 3, the fewest that
	// leave a residual to estimate the slope's error from).
	MinPoints int
	// MinSpan is the shortest time from the first point to the last
	// (0: DefaultTrendMinSpan).
	MinSpan time.Duration
	// MaxHorizon caps the projection (0: DefaultTrendMaxHorizon).
	MaxHorizon time.Duration
	// Threshold is the health the projection crosses (0: CriticalBelow,
	// where the critical band begins).
	Threshold float64
}

func (o TrendOptions) withDefaults() TrendOptions {
	if o.Window <= 0 {
		o.Window = DefaultTrendWindow
	}
	if o.MinPoints == 0 {
		o.MinPoints = DefaultTrendMinPoints
	}
	o.MinPoints = max(o.MinPoints, 3)
	if o.MinSpan <= 0 {
		o.MinSpan = DefaultTrendMinSpan
	}
	if o.MaxHorizon <= 0 {
		o.MaxHorizon = DefaultTrendMaxHorizon
	}
	if !(o.Threshold > 0 && o.Threshold <= 1) {
		o.Threshold = CriticalBelow
	}
	return o
}

// Trend is a least-squares line through a component's health.
type Trend struct {
	// Rate is the degradation rate in health per hour: the line's slope
	// (negative: the health declines).
	Rate float64
	// RateSE is the slope's standard error (0 when the points lie on a
	// line).
	RateSE float64
	// Health is the line's health at the newest point.
	Health float64
	// N is the number of points fitted and Span the time they span.
	N    int
	Span time.Duration
	// Last is the newest point's time.
	Last time.Time
}

// FitTrend fits a line to pts' points within o.Window of the newest one.
// Points with a zero time or a health that is not a number in [0, 1]
// (an unknown or masked window) are ignored; pts need not be sorted and
// is not modified. ok is false with fewer than o.MinPoints points or a
// span shorter than o.MinSpan (equal times span nothing).
func FitTrend(pts []HealthPoint, o TrendOptions) (tr Trend, ok bool) {
	o = o.withDefaults()
	var last time.Time
	n := 0
	for _, p := range pts {
		if usable(p) {
			n++
			if p.Time.After(last) {
				last = p.Time
			}
		}
	}
	if n < o.MinPoints {
		return Trend{}, false
	}
	from := last.Add(-o.Window)
	// x in hours before the newest point (<= 0), small numbers whatever
	// the epoch.
	xs := make([]float64, 0, n)
	ys := make([]float64, 0, n)
	first := last
	for _, p := range pts {
		if !usable(p) || p.Time.Before(from) {
			continue
		}
		if p.Time.Before(first) {
			first = p.Time
		}
		xs = append(xs, p.Time.Sub(last).Hours())
		ys = append(ys, p.Health)
	}
	span := last.Sub(first)
	if len(xs) < o.MinPoints || span < o.MinSpan {
		return Trend{}, false
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	k := float64(len(xs))
	mx /= k
	my /= k
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if !(sxx > 0) {
		return Trend{}, false
	}
	b := sxy / sxx
	a := my - b*mx // the line at x = 0, the newest point
	var sse float64
	for i := range xs {
		r := ys[i] - (a + b*xs[i])
		sse += r * r
	}
	se := math.Sqrt(sse / (k - 2) / sxx)
	if math.IsNaN(b) || math.IsInf(b, 0) || math.IsNaN(se) || math.IsInf(se, 0) {
		return Trend{}, false
	}
	return Trend{Rate: b, RateSE: se, Health: a, N: len(xs), Span: span, Last: last}, true
}

// Judged reports whether c's health counts as judged: its status is one
// of the judged ones (Rank above 0: not Unknown) and its health a number
// in [0, 1]. Only judged health goes into a health trend (the edge
// agent's trend tracker) and into a health bucket's averages (the cloud's
// component health history, whose SQL applies the same rule).
func Judged(c ComponentHealth) bool {
	return Rank(c.Status) > 0 && c.Health >= 0 && c.Health <= 1 // false for NaN
}

func usable(p HealthPoint) bool {
	return !p.Time.IsZero() && p.Health >= 0 && p.Health <= 1 // false for NaN
}

// EstimateRUL returns the hours until pts' health trend (FitTrend)
// crosses o.Threshold, with quantiles from the slope's uncertainty, or
// nil when there is no estimate: too few points or too short a span
// (FitTrend), a trend that is flat or improving, a decline that the
// points do not show with confidence, or a P50 beyond o.MaxHorizon.
// Component is left empty for the caller to set.
//
// The method: the slope b, its standard error s and the line's health h
// at the newest point come from ordinary least squares over the n
// points. The decline counts only when it is significant: b + t(0.975,
// n-2)·s < 0, the one-sided 97.5 % bound of Student's t with n-2 degrees
// of freedom (a flat but noisy component would otherwise get a remaining
// life from noise). The hours left are (h - Threshold) / -b for P50; P10
// uses the steeper slope b - t(0.9, n-2)·s and P90 the shallower slope
// b + t(0.9, n-2)·s, which the significance test keeps negative, so the
// quantiles are those of the time to threshold when the slope's error
// follows Student's t (the error of h is left out: the slope dominates
// far from the newest point). P90 is at most o.MaxHorizon. A component
// whose fitted health is already at or below the threshold, and
// declining, has 0 hours left. The points are treated as independent:
// overlapping (sliding) windows share readings and are not, which makes
// s too small and the interval too narrow.
func EstimateRUL(pts []HealthPoint, o TrendOptions) *RUL {
	o = o.withDefaults()
	tr, ok := FitTrend(pts, o)
	if !ok || !(tr.Rate < 0) {
		return nil
	}
	df := tr.N - 2
	if tr.Rate+tQuantile975(df)*tr.RateSE >= 0 {
		return nil
	}
	capH := o.MaxHorizon.Hours()
	gap := tr.Health - o.Threshold
	if gap <= 0 {
		return &RUL{}
	}
	t90 := tQuantile90(df)
	p50 := gap / -tr.Rate
	if !(p50 <= capH) {
		return nil
	}
	p10 := gap / -(tr.Rate - t90*tr.RateSE)
	p90 := gap / -(tr.Rate + t90*tr.RateSE)
	if !(p90 > 0) || p90 > capH { // the shallower slope may round to 0
		p90 = capH
	}
	p90 = max(p90, p50)
	p10 = min(p10, p50)
	return &RUL{P10Hours: p10, P50Hours: p50, P90Hours: p90}
}

// Student's t quantiles for 1 to 30 degrees of freedom.
var (
	t90Table = [...]float64{3.078, 1.886, 1.638, 1.533, 1.476, 1.440, 1.415, 1.397, 1.383, 1.372,
		1.363, 1.356, 1.350, 1.345, 1.341, 1.337, 1.333, 1.330, 1.328, 1.325,
		1.323, 1.321, 1.319, 1.318, 1.316, 1.315, 1.314, 1.313, 1.311, 1.310}
	t975Table = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
)

func tQuantile90(df int) float64  { return tQuantile(df, t90Table[:], 1.2815515655446004) }
func tQuantile975(df int) float64 { return tQuantile(df, t975Table[:], 1.959963984540054) }

// tQuantile is the table's value for df <= 30, beyond it the
// Cornish-Fisher expansion of Student's t around the normal quantile z
// (within 1e-3 of the exact value from 30 degrees of freedom on).
func tQuantile(df int, table []float64, z float64) float64 {
	df = max(df, 1)
	if df <= len(table) {
		return table[df-1]
	}
	v := float64(df)
	z2 := z * z
	return z + z*(z2+1)/(4*v) + z*(5*z2*z2+16*z2+3)/(96*v*v)
}
