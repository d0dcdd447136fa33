package infer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Graph input names: every exported model takes the prepared window as
// "x" and its mask as "mask", both float32 [B, S, T] (B dynamic, S the
// input spec's sensors, T its steps), sensor-major as prep.Window lays
// them out.
const (
	InputX    = "x"
	InputMask = "mask"
)

// ErrClosed is returned by Run and RunInto after Close.
var ErrClosed = errors.New("model is closed")

// ErrGraph is returned (wrapped) by Open when a model file's graph does
// not match its manifest: an input or output name, type or shape differs.
var ErrGraph = errors.New("model graph does not match the bundle manifest")

// ErrInput is returned (wrapped) by Run when a window cannot be fed to the
// model (wrong shape, non-finite values, too many windows).
var ErrInput = errors.New("bad model input")

// Model is one opened model of a bundle: ONNX Runtime sessions plus the
// tensors they reuse and the manifest's meaning of the outputs. A window
// at a time (B=1) runs on a session bound to preallocated tensors, which
// allocates nothing per run; batches run on a second, dynamic-batch
// session created by the first Run of more than one window.
//
// A Model is safe for concurrent use: Run, RunInto, Diagnose and Info may
// be called from several goroutines. Runs are serialised by a mutex,
// because the session's input and output tensors are reused from run to
// run (that is what makes a B=1 run allocation-free); with one intra-op
// thread a second concurrent run could not go faster anyway. For parallel
// throughput open one Model per goroutine. Close must not race with a
// run's caller still reading a Result it owns, but may be called while
// other goroutines wait in Run: they then get ErrClosed.
type Model struct {
	cfg      *rig.Config
	manifest *bundle.Manifest
	file     bundle.Model
	digest   string
	opts     Options
	log      *slog.Logger
	S, T     int // sensors and steps of the input spec

	inputs    []string // graph input names in feed order (x first)
	heads     []headPlan
	outputs   []string // graph output names in fetch order (= heads order)
	providers []Provider
	batch1    bool          // the graph's batch dimension is fixed to 1
	warmup    time.Duration // the warm-up run's wall time in Open

	// engineRoot and engineDir: the configured TensorRT engine cache and
	// this model's folder in it, set when TensorRT runs it with the cache
	// (engineDir is then counted in use until Close).
	engineRoot, engineDir string

	mu     sync.Mutex
	closed bool
	data   []byte                      // the verified model bytes (for the batch session)
	so     *ort.SessionOptions         // the options (providers included) of both sessions
	single *ort.AdvancedSession        // bound to one's tensors: B = 1, no allocation per run
	batch  *ort.DynamicAdvancedSession // created by the first Run of B > 1
	one    *ioSet                      // tensors for B = 1
	many   *ioSet                      // tensors for the last B > 1
}

// headPlan is one head the Model fetches, resolved against the rig.
type headPlan struct {
	head  bundle.Head
	width int // elements per window
	// anomaly: the spec index of each label (sensor); class: the rig's
	// target.
	sensorIdx []int
	target    *rig.Target
}

// ioSet holds the input and output tensors of one batch size.
type ioSet struct {
	b          int
	x, mask    *ort.Tensor[float32]
	outs       []*ort.Tensor[float32]
	inValues   []ort.Value
	outValues  []ort.Value
	outScratch []ort.Value // handed to Run (it may write into the slice)
}

func (s *ioSet) destroy() {
	if s == nil {
		return
	}
	for _, v := range s.inValues {
		_ = v.Destroy()
	}
	for _, v := range s.outValues {
		_ = v.Destroy()
	}
	s.inValues, s.outValues, s.outs = nil, nil, nil
}

// Info describes an opened Model.
type Info struct {
	// Name, Version and Digest identify the bundle (Digest: the manifest's).
	Name, Version, Digest string
	// RigType is the rig the bundle is for.
	RigType string
	// File, Precision and Quantization describe the model file in use.
	File         string
	Precision    bundle.Precision
	Quantization bundle.Quantization
	// Providers are the execution providers of the session, most
	// preferred first; always ending with CPU.
	Providers []Provider
	// IntraOpThreads and InterOpThreads are the session's thread counts.
	IntraOpThreads, InterOpThreads int
	// Sensors and Steps are the input's S and T; MaxBatch caps B.
	Sensors, Steps, MaxBatch int
	// Inputs and Outputs are the graph's tensor names the Model feeds and
	// fetches.
	Inputs, Outputs []string
	// ORTVersion is the ONNX Runtime version.
	ORTVersion string
	// WarmupMS is the wall time of the warm-up run Open made (one fully
	// masked zero window on the B = 1 session), in milliseconds.
	WarmupMS float64
}

// Open loads the bundle in dir for the rig cfg and opens one of its models
// in ONNX Runtime (initialising it with Init(opts.LibraryPath) if needed).
//
// Open refuses, with the bundle package's error (errors.Is ErrInvalid or
// ErrMismatch): a bundle whose manifest is malformed or whose model files
// do not match their digests (checked again on the bytes handed to ONNX
// Runtime, so a file swapped after bundle.Load is caught), a bundle made
// for another rig (bundle.Manifest.CheckRig) or whose class heads do not
// match cfg's targets, and a model file whose ONNX metadata names
// another input spec or config than the manifest (hydrognn.input_digest,
// hydrognn.config_digest: a manifest re-edited with other normalisation
// stats keeps its file checksums right). It refuses with ErrGraph a model
// whose graph inputs or outputs differ from the manifest in name, type or
// shape, which ONNX Runtime would otherwise only report at the first Run.
//
// Anomaly scores divide by the thresholds of the file opened
// (bundle.Manifest.AnomalyThresholds: an int8 file's own, calibrated on
// its outputs, else the anomaly head's).
//
// cfg must stay unchanged while the Model is open. Close the Model when
// done.
func Open(dir string, cfg *rig.Config, opts Options) (*Model, error) {
	if cfg == nil {
		return nil, errors.New("infer: open: nil rig config")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := Init(opts.LibraryPath); err != nil {
		return nil, err
	}
	m, err := load(dir, cfg, opts)
	if err != nil {
		return nil, err
	}
	man, file := m.manifest, &m.file
	data, err := readModel(dir, file)
	if err != nil {
		return nil, fmt.Errorf("infer: open %s: %w", dir, err)
	}
	if err := m.checkGraph(data); err != nil {
		return nil, fmt.Errorf("infer: open %s: %s: %w", dir, file.File, err)
	}
	m.data = data
	if m.one, err = m.newIOSet(1); err != nil {
		return nil, fmt.Errorf("infer: open %s: %w", dir, err)
	}
	start := time.Now()
	if err := m.createSession(); err != nil {
		m.one.destroy()
		return nil, fmt.Errorf("infer: open %s: %s: %w", dir, file.File, err)
	}
	if err := m.checkMetadata(); err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("infer: open %s: %w", dir, err)
	}
	session := time.Since(start)
	if err := m.warm(); err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("infer: open %s: warm-up run: %w", dir, err)
	}
	m.log.Info("model opened", "bundle", man.Name, "version", man.Version, "file", file.File,
		"precision", string(file.Precision), "quantization", string(file.Quantization),
		"providers", m.providers, "intra_op_threads", opts.IntraOpThreads,
		"session_ms", float64(session.Microseconds())/1000, "warmup_ms", float64(m.warmup.Microseconds())/1000)
	if _, ok := man.Provenance.Config[SKABDetectorKey]; ok {
		if _, err := m.skabParamsOf(); err != nil {
			m.log.Warn("bundle's anomaly thresholds are for a SKAB detector the agent cannot run; "+
				"its anomaly scores for this bundle are uncalibrated and flag most normal windows (docs/agent.md)",
				"bundle", man.Name, "err", err)
		} else {
			m.log.Info("bundle carries the SKAB detector: its anomaly scores mean something only through a Detector "+
				"(Model.NewDetector), which calibrates on the rig's first rows",
				"bundle", man.Name, "detector", "provenance.config."+SKABDetectorKey)
		}
	}
	return m, nil
}

// warm runs one fully masked zero window (every value 0, every mask 0:
// no reading) on the B = 1 session and records its wall time, so that
// the first real window does not pay for ONNX Runtime's lazy
// initialisation (memory arenas, kernel choice, an execution provider's
// first-run work) and a model that cannot run fails Open, not the first
// window. The outputs are discarded; the tensors are left zeroed.
func (m *Model) warm() error {
	s := m.one
	clear(s.x.GetData())
	if s.mask != nil {
		clear(s.mask.GetData())
	}
	start := time.Now()
	if err := m.single.Run(); err != nil {
		return fmt.Errorf("%s: %w", m.file.File, err)
	}
	m.warmup = time.Since(start)
	return nil
}

// CheckBundle runs the checks of Open that need neither ONNX Runtime nor
// the model's graph, with Open's errors: the bundle in dir loads
// (bundle.Load: a well-formed manifest, model files matching their
// digests), is made for the rig cfg (bundle.Manifest.CheckRig: rig
// type, config digest, sensors), has a model of opts.Precision, and its
// heads match the rig's components and targets. It returns the manifest.
// rig-agent --check runs it; Open can still refuse the bundle for what
// only its graph and metadata show.
func CheckBundle(dir string, cfg *rig.Config, opts Options) (*bundle.Manifest, error) {
	if cfg == nil {
		return nil, errors.New("infer: open: nil rig config")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := load(dir, cfg, opts)
	if err != nil {
		return nil, err
	}
	return m.manifest, nil
}

// load loads and checks the bundle in dir for Open and CheckBundle: a
// Model with its manifest, chosen file and head plan, no session yet.
func load(dir string, cfg *rig.Config, opts Options) (*Model, error) {
	man, err := bundle.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("infer: open: %w", err)
	}
	if err := man.CheckRig(cfg); err != nil {
		return nil, fmt.Errorf("infer: open %s: %w", dir, err)
	}
	file, err := choose(man, opts.Precision)
	if err != nil {
		return nil, fmt.Errorf("infer: open %s: %w", dir, err)
	}
	m := &Model{
		cfg: cfg, manifest: man, file: *file, digest: man.Digest(), opts: opts, log: opts.Logger,
		S: len(man.Input.Sensors), T: man.Input.Steps,
	}
	if err := m.planHeads(); err != nil {
		return nil, fmt.Errorf("infer: open %s: %w", dir, err)
	}
	return m, nil
}

// SKABDetectorKey is the training-provenance key under which a bundle
// trained by models/skab records its detector (per-deployment
// calibration, smoothed errors, level term). Model.NewDetector runs it;
// Run alone does not (Open logs a warning when the bundle lacks what the
// Detector needs).
const SKABDetectorKey = "skab_detector"

// choose picks the model file for precision p ("" prefers int8).
func choose(man *bundle.Manifest, p bundle.Precision) (*bundle.Model, error) {
	if p == "" {
		if f := man.Model(bundle.INT8); f != nil {
			return f, nil
		}
		p = bundle.FP32
	}
	if f := man.Model(p); f != nil {
		return f, nil
	}
	var have []string
	for _, f := range man.Models {
		have = append(have, string(f.Precision))
	}
	return nil, fmt.Errorf("bundle %s %s has no %s model (it has: %s)", man.Name, man.Version, p, strings.Join(have, ", "))
}

// readModel reads a model file and checks it against the manifest again:
// the bytes given to ONNX Runtime are the bytes verified.
func readModel(dir string, f *bundle.Model) ([]byte, error) {
	path := filepath.Join(dir, f.File)
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, bundle.MaxModelSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); int64(len(data)) != f.Bytes || got != f.SHA256 {
		return nil, fmt.Errorf("%w: %s changed after the bundle was loaded: %d bytes with sha256 %s, the manifest says %d bytes with %s",
			bundle.ErrInvalid, f.File, len(data), got, f.Bytes, f.SHA256)
	}
	return data, nil
}

// planHeads resolves the manifest's heads against the rig and the chosen
// model file's outputs.
func (m *Model) planHeads() error {
	man, cfg := m.manifest, m.cfg
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	seenKind := map[bundle.HeadKind]int{}
	seenOut := map[string]int{}
	seenTarget := map[string]int{}
	for i, h := range man.Heads {
		where := fmt.Sprintf("heads[%d] (%s %q)", i, h.Kind, h.Output)
		if j, dup := seenOut[h.Output]; dup {
			bad("%s: output also used by heads[%d]", where, j)
			continue
		}
		seenOut[h.Output] = i
		if !slices.Contains(m.file.Outputs, h.Output) {
			bad("%s: %s does not list this output (its outputs: %v)", where, m.file.File, m.file.Outputs)
		}
		p := headPlan{head: h}
		switch h.Kind {
		case bundle.HeadHealth, bundle.HeadAnomaly, bundle.HeadRUL:
			if j, dup := seenKind[h.Kind]; dup {
				bad("%s: a second %s head (the first is heads[%d]); the agent uses one", where, h.Kind, j)
			}
			seenKind[h.Kind] = i
		}
		switch h.Kind {
		case bundle.HeadHealth:
			if !slices.Equal(h.Labels, man.Components) {
				bad("%s: labels %v are not the components %v", where, h.Labels, man.Components)
			}
			p.width = len(man.Components)
		case bundle.HeadClass:
			if j, dup := seenTarget[h.Target]; dup {
				bad("%s: target %q also has heads[%d]", where, h.Target, j)
			}
			seenTarget[h.Target] = i
			t := cfg.Target(h.Target)
			if t == nil {
				bad("%s: target %q is not in the rig's firmware config", where, h.Target)
				continue
			}
			vals := make([]float64, len(t.Classes))
			for k, c := range t.Classes {
				vals[k] = c.Value
			}
			if !slices.Equal(h.Values, vals) {
				bad("%s: class values %v differ from the rig's target %q classes %v", where, h.Values, t.Name, vals)
			}
			p.target, p.width = t, len(h.Labels)
		case bundle.HeadAnomaly:
			// The thresholds calibrated on the chosen file's own outputs
			// (an int8 file's errors are not fp32's), else the head's.
			p.head.Thresholds = man.AnomalyThresholds(&m.file)
			// bundle.Load validated the labels: the input sensor ids in
			// input order (output j is label j's), so sensorIdx is j.
			p.width = len(h.Labels)
			p.sensorIdx = make([]int, len(h.Labels))
			for k, id := range h.Labels {
				p.sensorIdx[k] = man.Input.Index(id)
				if p.sensorIdx[k] < 0 {
					bad("%s: label %q is not an input sensor", where, id)
				}
			}
		case bundle.HeadRUL:
			p.width = 3
			for _, id := range h.Labels {
				if cfg.ComponentIndex(id) < 0 {
					bad("%s: label %q is not a component of the rig", where, id)
				}
			}
		}
		m.heads = append(m.heads, p)
		m.outputs = append(m.outputs, h.Output)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: bundle %s %s: %s", bundle.ErrMismatch, man.Name, man.Version, strings.Join(errs, "; "))
	}
	return nil
}

// checkGraph compares the graph's inputs and outputs with the manifest.
func (m *Model) checkGraph(data []byte) error {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return fmt.Errorf("%w: ONNX Runtime cannot read it: %w", bundle.ErrInvalid, err)
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	names := func(infos []ort.InputOutputInfo) []string {
		out := make([]string, len(infos))
		for i, in := range infos {
			out[i] = in.Name
		}
		return out
	}
	gotIn, gotOut := names(ins), names(outs)
	if !sameSet(gotIn, m.file.Inputs) {
		bad("graph inputs %q, the manifest says %q", gotIn, m.file.Inputs)
	}
	for _, want := range m.file.Outputs {
		if !slices.Contains(gotOut, want) {
			bad("graph outputs %q lack %q, which the manifest lists", gotOut, want)
		}
	}
	// Inputs: x (required) and mask (optional), float32 [B, S, T].
	for _, in := range ins {
		switch in.Name {
		case InputX, InputMask:
		default:
			bad("graph input %q: the agent feeds only %q and %q", in.Name, InputX, InputMask)
			continue
		}
		if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat {
			bad("graph input %q is %v of %v, want a float32 tensor", in.Name, in.OrtValueType, in.DataType)
		}
		d := in.Dimensions
		if len(d) != 3 || !dimOK(d[1], m.S) || !dimOK(d[2], m.T) || !(d[0] == -1 || d[0] == 1) {
			bad("graph input %q has shape %v, want [batch, %d, %d] (the input spec's sensors and steps)", in.Name, d, m.S, m.T)
		} else if d[0] == 1 {
			m.batch1 = true
		}
	}
	if !slices.Contains(gotIn, InputX) {
		bad("graph has no input %q", InputX)
	}
	m.inputs = m.inputs[:0]
	for _, n := range []string{InputX, InputMask} {
		if slices.Contains(gotIn, n) {
			m.inputs = append(m.inputs, n)
		}
	}
	for _, h := range m.heads {
		i := slices.Index(gotOut, h.head.Output)
		if i < 0 {
			bad("graph has no output %q (%s head); its outputs are %q", h.head.Output, h.head.Kind, gotOut)
			continue
		}
		o := outs[i]
		if o.OrtValueType != ort.ONNXTypeTensor || o.DataType != ort.TensorElementDataTypeFloat {
			bad("graph output %q is %v of %v, want a float32 tensor", o.Name, o.OrtValueType, o.DataType)
		}
		d := o.Dimensions
		if len(d) != 2 || !dimOK(d[1], h.width) || !(d[0] == -1 || d[0] == 1) {
			bad("graph output %q (%s head) has shape %v, want [batch, %d]", o.Name, h.head.Kind, d, h.width)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrGraph, strings.Join(errs, "; "))
	}
	return nil
}

// ONNX metadata keys the exporter (models/export) writes into every model
// file; checkMetadata compares MetaInputDigest with the manifest.
const (
	MetaInputDigest  = "hydrognn.input_digest"
	MetaConfigDigest = "hydrognn.config_digest"
)

// checkMetadata compares the input-spec digest the model file carries in
// its ONNX metadata (hydrognn.input_digest: the normalisation stats the
// weights were trained with) with the manifest's input spec. The file
// checksums in the manifest cannot catch a manifest re-edited with other
// stats; this does. A file without the key (not written by the exporter)
// is not checked.
//
// The file's hydrognn.config_digest is provenance only and is not
// compared: the manifest's config_digest is what binds a bundle to a
// firmware config (Manifest.CheckRig), and rebinding a bundle to a
// revision of the config that changes nothing the model reads (MQTT
// topics, equipment details) by editing that field is supported; the
// input spec and CheckRig's structural checks still guard what the model
// depends on.
func (m *Model) checkMetadata() error {
	md, err := m.single.GetModelMetadata()
	if err != nil {
		return fmt.Errorf("%w: %s: read its ONNX metadata: %w", bundle.ErrInvalid, m.file.File, err)
	}
	defer md.Destroy()
	spec, err := m.manifest.Input.Digest()
	if err != nil {
		return fmt.Errorf("%w: manifest input spec: %w", bundle.ErrInvalid, err)
	}
	var errs []string
	for _, c := range []struct{ key, what, want string }{
		{MetaInputDigest, "the manifest's input spec has", spec},
	} {
		got, ok, err := md.LookupCustomMetadataMap(c.key)
		if err != nil {
			return fmt.Errorf("%w: %s: read ONNX metadata %s: %w", bundle.ErrInvalid, m.file.File, c.key, err)
		}
		if ok && got != c.want {
			errs = append(errs, fmt.Sprintf("ONNX metadata %s is %s, %s %s", c.key, got, c.what, c.want))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s does not belong to this manifest: %s", bundle.ErrInvalid, m.file.File, strings.Join(errs, "; "))
	}
	return nil
}

// dimOK accepts a symbolic (-1) dimension or the expected size.
func dimOK(d int64, want int) bool { return d == -1 || d == int64(want) }

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// sessionOptions returns the session settings without providers.
func (m *Model) sessionOptions() (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	set := func() error {
		o := m.opts
		if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return err
		}
		if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
			return err
		}
		if o.IntraOpThreads > 1 {
			if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
				return err
			}
		}
		if o.InterOpThreads > 1 {
			if err := so.AddSessionConfigEntry("session.inter_op.allow_spinning", "0"); err != nil {
				return err
			}
		}
		if err := so.SetExecutionMode(ort.ExecutionModeSequential); err != nil {
			return err
		}
		if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
			return err
		}
		if m.file.Precision == bundle.INT8 {
			// Fold DequantizeLinear of constant weights into fp32 at load
			// (both int8 schemes; see models/onnx/README.md).
			if err := so.AddSessionConfigEntry("session.disable_quant_qdq", "1"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := set(); err != nil {
		_ = so.Destroy()
		return nil, fmt.Errorf("session options: %w", err)
	}
	return so, nil
}

// appendProvider adds one GPU execution provider to so.
func (m *Model) appendProvider(so *ort.SessionOptions, p Provider) error {
	kv := m.opts.ProviderSettings(p)
	switch p {
	case CUDA:
		po, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return err
		}
		defer po.Destroy()
		if err := po.Update(kv); err != nil {
			return err
		}
		return so.AppendExecutionProviderCUDA(po)
	case TensorRT:
		po, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return err
		}
		defer po.Destroy()
		root, dir := useEngineCache(kv, m.file.SHA256, time.Now(), m.log)
		if err := po.Update(kv); err != nil {
			return err
		}
		if err := so.AppendExecutionProviderTensorRT(po); err != nil {
			return err
		}
		m.engineRoot, m.engineDir = root, dir
		return nil
	}
	return fmt.Errorf("provider %q takes no options", p)
}

// createSession creates the B=1 session with the wanted providers,
// falling back to CPU (with a warning) for every provider that is
// unavailable, and keeps the options for the batch session.
func (m *Model) createSession() error {
	so, err := m.sessionOptions()
	if err != nil {
		return err
	}
	var used []Provider
	for _, p := range m.opts.Providers {
		if p == CPU {
			continue
		}
		if err := m.appendProvider(so, p); err != nil {
			m.log.Warn("execution provider unavailable, falling back", "provider", string(p),
				"fallback", "next provider or cpu", "file", m.file.File, "err", oneLine(err))
			continue
		}
		used = append(used, p)
	}
	one := m.one
	m.single, err = ort.NewAdvancedSessionWithONNXData(m.data, m.inputs, m.outputs, one.inValues, one.outValues, so)
	if err != nil && len(used) > 0 {
		// A provider was added but cannot run this model (no device, a
		// driver mismatch): retry on the CPU alone.
		m.log.Warn("execution provider failed to create the session, falling back", "providers", used,
			"fallback", string(CPU), "file", m.file.File, "err", oneLine(err))
		_ = so.Destroy()
		if so, err = m.sessionOptions(); err != nil {
			return err
		}
		used = nil
		m.single, err = ort.NewAdvancedSessionWithONNXData(m.data, m.inputs, m.outputs, one.inValues, one.outValues, so)
	}
	if err != nil {
		_ = so.Destroy()
		return fmt.Errorf("create ONNX Runtime session: %w", err)
	}
	m.so = so
	m.providers = append(used, CPU)
	if !slices.Contains(used, TensorRT) {
		m.engineRoot, m.engineDir = "", ""
	}
	m.useEngineDir()
	return nil
}

// useEngineDir counts the model's engine folder in use, once its session
// runs TensorRT with the engine cache, and prunes the cache unless
// Options.KeepEngineCache.
func (m *Model) useEngineDir() {
	if m.engineDir == "" {
		return
	}
	acquireEngineDir(m.engineDir)
	if !m.opts.KeepEngineCache {
		pruneEngines(m.log, m.engineRoot, m.engineDir, m.opts.EngineCacheKeep)
	}
}

// batchSession returns the session for B > 1, creating it on first use
// with the B=1 session's options (m.mu held).
func (m *Model) batchSession() (*ort.DynamicAdvancedSession, error) {
	if m.batch == nil {
		s, err := ort.NewDynamicAdvancedSessionWithONNXData(m.data, m.inputs, m.outputs, m.so)
		if err != nil {
			return nil, fmt.Errorf("infer: create the batch session for %s: %w", m.file.File, err)
		}
		m.batch = s
	}
	return m.batch, nil
}

// oneLine keeps the first line of an error: ONNX Runtime's messages can
// carry long multi-line details.
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return string(bytes.TrimSpace([]byte(s)))
}

// newIOSet allocates the input and output tensors of batch size b.
func (m *Model) newIOSet(b int) (*ioSet, error) {
	s := &ioSet{b: b}
	add := func(dst *[]ort.Value, shape ...int64) (*ort.Tensor[float32], error) {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(shape...))
		if err != nil {
			return nil, err
		}
		*dst = append(*dst, t)
		return t, nil
	}
	var err error
	for _, name := range m.inputs {
		var t *ort.Tensor[float32]
		if t, err = add(&s.inValues, int64(b), int64(m.S), int64(m.T)); err != nil {
			break
		}
		if name == InputX {
			s.x = t
		} else {
			s.mask = t
		}
	}
	for _, h := range m.heads {
		if err != nil {
			break
		}
		var t *ort.Tensor[float32]
		if t, err = add(&s.outValues, int64(b), int64(h.width)); err == nil {
			s.outs = append(s.outs, t)
		}
	}
	if err != nil {
		s.destroy()
		return nil, fmt.Errorf("allocate tensors for batch %d: %w", b, err)
	}
	s.outScratch = make([]ort.Value, len(s.outValues))
	return s, nil
}

// Info describes the Model.
func (m *Model) Info() Info {
	man := m.manifest
	return Info{
		Name: man.Name, Version: man.Version, Digest: m.digest, RigType: man.RigType,
		File: m.file.File, Precision: m.file.Precision, Quantization: m.file.Quantization,
		Providers:      slices.Clone(m.providers),
		IntraOpThreads: m.opts.IntraOpThreads, InterOpThreads: m.opts.InterOpThreads,
		Sensors: m.S, Steps: m.T, MaxBatch: m.opts.MaxBatch,
		Inputs: slices.Clone(m.inputs), Outputs: slices.Clone(m.outputs),
		ORTVersion: Version(),
		WarmupMS:   float64(m.warmup.Microseconds()) / 1000,
	}
}

// Manifest returns the bundle's manifest. It is shared: do not modify it.
func (m *Model) Manifest() *bundle.Manifest { return m.manifest }

// Spec returns the bundle's input spec (shared with the manifest: do not
// modify its slices). Prepare windows for the Model with it.
func (m *Model) Spec() prep.Spec { return m.manifest.Input }

// Close releases the session and the tensors. It is idempotent; Run after
// Close returns ErrClosed.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.single != nil {
		errs = append(errs, m.single.Destroy())
	}
	if m.batch != nil {
		errs = append(errs, m.batch.Destroy())
	}
	if m.so != nil {
		errs = append(errs, m.so.Destroy())
	}
	m.single, m.batch, m.so, m.data = nil, nil, nil, nil
	if m.engineDir != "" {
		releaseEngineDir(m.engineDir)
		m.engineDir = ""
	}
	// Tensors last: they must outlive the sessions.
	m.one.destroy()
	m.many.destroy()
	m.one, m.many = nil, nil
	err := errors.Join(errs...)
	return err
}
