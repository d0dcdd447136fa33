package infer

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Benchmarks of the edge path. docs/inference.md quotes them; rerun with
//
//	cd agent && go test ./infer -run '^$' -bench . -benchtime 3000x -count 3
//
// p50-us and p99-us are percentiles of the wall time of each call as the
// agent sees it (copying the window in, ONNX Runtime, decoding the heads).

// latencies records per-iteration durations and reports percentiles.
type latencies []time.Duration

// newLatencies preallocates room for the usual run lengths, so recording
// does not count as the benchmarked code's allocations.
func newLatencies() latencies { return make(latencies, 0, 1<<17) }

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}

var benchModels = []struct {
	name string
	v    variant
}{
	{"standin", variant{}},      // trivial graph: the agent's own overhead
	{"gru", variant{gru: true}}, // + a GRU encoder (H=32 over 17 sensors x 60 steps): close to the GNN's cost
}

var benchPrecisions = []struct {
	name  string
	quant bundle.Quantization
	prec  bundle.Precision
}{
	{"fp32", bundle.QuantNone, bundle.FP32},
	{"int8-qdq", bundle.QuantWeightQDQ, bundle.INT8},
	{"int8-dynamic", bundle.QuantDynamic, bundle.INT8},
}

func BenchmarkRun(b *testing.B) {
	needORT(b)
	si := newStandIn(b, loadRig(b, zemaConfig))
	for _, bm := range benchModels {
		for _, p := range benchPrecisions {
			dir := si.writeBundle(b, bundleOpts{variant: bm.v, int8: p.quant})
			m := open(b, dir, si, Options{Precision: p.prec})
			w := si.window(b, 1, nil, nil)
			b.Run(fmt.Sprintf("%s/%s/B=1/RunInto", bm.name, p.name), func(b *testing.B) {
				var r Result
				_, err := m.RunInto(&r, w) // warm up: allocates r's slices
				require.NoError(b, err)
				lat := newLatencies()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					t0 := time.Now()
					if _, err := m.RunInto(&r, w); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				lat.report(b)
			})
			for _, n := range []int{1, 8} {
				ws := make([]*prep.Window, n)
				for i := range ws {
					ws[i] = si.window(b, i, nil, nil)
				}
				b.Run(fmt.Sprintf("%s/%s/B=%d/Run", bm.name, p.name, n), func(b *testing.B) {
					lat := newLatencies()
					b.ReportAllocs()
					for b.Loop() {
						t0 := time.Now()
						if _, err := m.Run(ws); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(t0))
					}
					lat.report(b)
				})
			}
		}
	}
}

// BenchmarkSessionKind compares, on the same fp32 graph at B=1, the ways
// onnxruntime_go can run it: an AdvancedSession bound to fixed B=1
// tensors (what Model uses for B=1), a DynamicAdvancedSession with
// preallocated output tensors (what Model uses for B>1), and the same
// letting ONNX Runtime allocate the outputs (destroyed after each run).
func BenchmarkSessionKind(b *testing.B) {
	needORT(b)
	si := newStandIn(b, loadRig(b, zemaConfig))
	for _, bm := range benchModels {
		dir := si.writeBundle(b, bundleOpts{variant: bm.v, int8: bundle.QuantNone})
		m := open(b, dir, si, Options{Precision: bundle.FP32})
		w := si.window(b, 1, nil, nil)
		one := m.one
		copy(one.x.GetData(), w.Values)
		copy(one.mask.GetData(), w.Mask)
		dyn, err := ort.NewDynamicAdvancedSessionWithONNXData(m.data, m.inputs, m.outputs, m.so)
		require.NoError(b, err)
		b.Cleanup(func() { _ = dyn.Destroy() })

		b.Run(bm.name+"/advanced-bound", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := m.single.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bm.name+"/dynamic-prealloc", func(b *testing.B) {
			b.ReportAllocs()
			outs := make([]ort.Value, len(one.outValues))
			for b.Loop() {
				copy(outs, one.outValues)
				if err := dyn.Run(one.inValues, outs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bm.name+"/dynamic-ort-alloc", func(b *testing.B) {
			b.ReportAllocs()
			outs := make([]ort.Value, len(one.outValues))
			for b.Loop() {
				clear(outs)
				if err := dyn.Run(one.inValues, outs); err != nil {
					b.Fatal(err)
				}
				for _, o := range outs {
					_ = o.Destroy()
				}
			}
		})
	}
}

// BenchmarkThreads runs the GRU stand-in (fp32) with 1 and 2 intra-op
// threads, at B=1 and B=8.
func BenchmarkThreads(b *testing.B) {
	needORT(b)
	si := newStandIn(b, loadRig(b, zemaConfig))
	dir := si.writeBundle(b, bundleOpts{variant: variant{gru: true}, int8: bundle.QuantNone})
	ws := make([]*prep.Window, 8)
	for i := range ws {
		ws[i] = si.window(b, i, nil, nil)
	}
	for _, threads := range []int{1, 2} {
		m := open(b, dir, si, Options{IntraOpThreads: threads})
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("threads=%d/B=%d", threads, n), func(b *testing.B) {
				lat := newLatencies()
				for b.Loop() {
					t0 := time.Now()
					if _, err := m.Run(ws[:n]); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				lat.report(b)
			})
		}
	}
}

// BenchmarkOpen measures Open (bundle check, graph check, session
// creation) of the GRU stand-in's int8 model.
func BenchmarkOpen(b *testing.B) {
	needORT(b)
	si := newStandIn(b, loadRig(b, zemaConfig))
	dir := si.writeBundle(b, bundleOpts{variant: variant{gru: true}})
	for b.Loop() {
		m, err := Open(dir, si.cfg, Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Close()
	}
}

// BenchmarkRunAfterIdle times RunInto after an idle gap, as the agent
// runs it: one window per cycle, the core busy with other work or idle in
// between. Each iteration sleeps (untimed), then times one RunInto. The
// trivial stand-in (a few nodes) shows the fixed cost of a cold ONNX
// Runtime call; the shipped bundles the whole cold window. Compare idle=0
// (back to back, warm caches: what BenchmarkRun and `rigctl bench infer`
// time) with idle=50ms:
//
//	cd agent && go test ./infer -run '^$' -bench RunAfterIdle -benchtime 200x
func BenchmarkRunAfterIdle(b *testing.B) {
	needORT(b)
	type subject struct {
		name string
		m    *Model
		w    *prep.Window
	}
	var subjects []subject
	si := newStandIn(b, loadRig(b, zemaConfig))
	dir := si.writeBundle(b, bundleOpts{variant: variant{}, int8: bundle.QuantNone})
	subjects = append(subjects, subject{"standin-trivial", open(b, dir, si, Options{}), si.window(b, 1, nil, nil)})
	for _, name := range []string{"zema-testrig", "excavator", "skab-testbed"} {
		cfg := loadRig(b, "../../firmware-configs/"+name+".yaml")
		m, err := Open("../../models/bundles/"+name, cfg, Options{Logger: quiet})
		require.NoError(b, err)
		b.Cleanup(func() { _ = m.Close() })
		subjects = append(subjects, subject{name, m, sineWindow(b, m.Spec())})
	}
	for _, s := range subjects {
		for _, idle := range []time.Duration{0, time.Millisecond, 50 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/idle=%v", s.name, idle), func(b *testing.B) {
				var r Result
				_, err := s.m.RunInto(&r, s.w)
				require.NoError(b, err)
				lat := newLatencies()
				for b.Loop() {
					if idle > 0 {
						b.StopTimer()
						time.Sleep(idle)
						b.StartTimer()
					}
					t0 := time.Now()
					if _, err := s.m.RunInto(&r, s.w); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				lat.report(b)
			})
		}
	}
}

// sineWindow is a window of smooth values for spec, every cell present.
func sineWindow(tb testing.TB, spec prep.Spec) *prep.Window {
	tb.Helper()
	grid := make([][]float64, len(spec.Sensors))
	for s := range grid {
		grid[s] = make([]float64, spec.Steps)
		for t := range grid[s] {
			grid[s][t] = math.Sin(float64(s*3+t) / 7)
		}
	}
	w, err := prep.FromGrid(spec, grid)
	require.NoError(tb, err)
	return w
}

// BenchmarkRunParts times each step of one window's diagnosis in the
// agent (agent/internal/windowing Runner.infer) separately, on the
// zema-testrig bundle: prep (a prep.Resampler building the window from
// its 43,680 readings at the sensors' own rates, the windowing's work
// besides reading the buffer), check (RunInto's checks of the window),
// copy (the window into the input tensors), ort (ONNX Runtime's Run: what
// inference_us and rig_agent_inference_latency_seconds measure), decode
// (the outputs into a Result) and diagnose (Model.Diagnose). Two modes:
// warm runs the steps back to back, as `rigctl bench infer` does; cold
// (the agent's case) first spends 20 ms on other memory-bound work that
// evicts the caches (standing in for ingest between windows), as the
// agent's one window a minute (or a few a second in rigctl bench ingest)
// finds them. Reported as p50 per step in µs:
//
//	cd agent && go test ./infer -run '^$' -bench RunParts -benchtime 200x -count 3
func BenchmarkRunParts(b *testing.B) {
	needORT(b)
	cfg := loadRig(b, "../../firmware-configs/zema-testrig.yaml")
	m, err := Open("../../models/bundles/zema-testrig", cfg, Options{Logger: quiet})
	require.NoError(b, err)
	b.Cleanup(func() { _ = m.Close() })
	spec := m.Spec()
	start := time.Unix(1_700_000_000, 0)
	var rs []reading.Reading
	for _, ss := range spec.Sensors {
		period := time.Duration(1e9 / ss.RateHz)
		for i := range int(ss.RateHz * spec.Duration().Seconds()) {
			rs = append(rs, reading.Reading{Sensor: ss.ID, Time: start.Add(time.Duration(i)*period + period/10),
				Value: 100 + math.Sin(float64(i)/7), Seq: uint64(i + 1)})
		}
	}
	slices.SortStableFunc(rs, func(a, b reading.Reading) int { return a.Time.Compare(b.Time) })
	rsm, err := prep.NewResampler(spec)
	require.NoError(b, err)
	evict := make([]byte, 32<<20) // beyond the last-level cache
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			var r Result
			w := rsm.Resample(start, rs)
			_, err := m.RunInto(&r, w)
			require.NoError(b, err)
			parts := []string{"prep", "check", "copy", "ort", "decode", "diagnose"}
			lat := make([]latencies, len(parts))
			for b.Loop() {
				if mode == "cold" {
					b.StopTimer()
					for t := time.Now(); time.Since(t) < 20*time.Millisecond; {
						for i := 0; i < len(evict); i += 64 {
							evict[i]++
						}
					}
					b.StartTimer()
				}
				t := []time.Time{time.Now()}
				rsm.Reset(start)
				rsm.Add(rs)
				w := rsm.Finish()
				t = append(t, time.Now())
				if err := m.checkWindow(w); err != nil {
					b.Fatal(err)
				}
				t = append(t, time.Now())
				m.mu.Lock()
				copy(m.one.x.GetData(), w.Values)
				if m.one.mask != nil {
					copy(m.one.mask.GetData(), w.Mask)
				}
				t = append(t, time.Now())
				err := m.single.Run()
				t = append(t, time.Now())
				if err == nil {
					err = m.decode(m.one, 0, w, &r)
				}
				m.mu.Unlock()
				t = append(t, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Diagnose(&r, w, t[4].Sub(t[3])); err != nil {
					b.Fatal(err)
				}
				t = append(t, time.Now())
				for i := range parts {
					lat[i] = append(lat[i], t[i+1].Sub(t[i]))
				}
			}
			for i, p := range parts {
				s := slices.Clone(lat[i])
				slices.Sort(s)
				b.ReportMetric(float64(s[len(s)/2].Nanoseconds())/1e3, p+"-p50-us")
			}
		})
	}
}
