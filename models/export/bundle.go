package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Model file names inside a bundle directory.
const (
	FileFP32 = "model.fp32.onnx"
	FileINT8 = "model.int8.onnx"
)

// DefaultVersion is the bundle version BundleOptions.Version defaults to.
const DefaultVersion = "1.0.0"

// MinThreshold floors the anomaly thresholds written to a manifest (a
// sensor whose training error is 0, e.g. never present, would otherwise
// get a threshold the manifest refuses).
const MinThreshold = 1e-6

// BundleOptions configure WriteBundle. Every zero field means its default,
// stated on the field.
type BundleOptions struct {
	// Name is the bundle's name ("": the rig type).
	Name string
	// Version is its semantic version ("": DefaultVersion).
	Version string
	// Scheme is the int8 scheme (0: onnx.WeightOnly, per channel, which
	// measured best for this model's sizes: see models/export/README.md).
	Scheme onnx.Scheme
	// NoInt8 writes the fp32 model only (zero: both).
	NoInt8 bool
	// AnomalyOnly writes only the anomaly head into the manifest, for a
	// model trained without labels (e.g. SKAB's reconstruction training):
	// its health and class outputs stay in the graph but were never
	// trained, so the agent must not read them (zero: every head).
	AnomalyOnly bool
	// Provenance is copied into the manifest as given, except that an
	// empty Backend, a zero StartedAt or DurationS and a nil Config are
	// filled from the training result (Config with Hyperparameters(
	// train.Options{}, res)).
	Provenance bundle.Provenance
	// Now stamps the manifest's CreatedAt (nil: time.Now).
	Now func() time.Time
}

// Written describes what WriteBundle wrote.
type Written struct {
	// Manifest is the manifest written (models with their digests).
	Manifest *bundle.Manifest
	// Quant is the int8 pass's report (nil with NoInt8).
	Quant *onnx.QuantReport
	// Bytes are the model files' sizes by precision.
	Bytes map[bundle.Precision]int64
}

// WriteBundle exports a trained model (res) for the rig cfg into dir
// (created if needed; existing model files and manifest are replaced):
// model.fp32.onnx, model.int8.onnx and manifest.json (shared/bundle) with
// the rig's type, config digest and topology version, the trained input
// spec with its normalisation stats, the components, the heads (health,
// one class head per target with its labels and values, anomaly with the
// per-sensor thresholds of res.AnomalyThreshold), the validation metrics
// and the provenance. agent/infer opens the result.
//
// When res keeps its calibration windows (train.Result.Calibration), each
// model file gets its own thresholds in the manifest (bundle.Model.
// Thresholds): fp32's are res.AnomalyThreshold, int8's are calibrated on
// the int8 model's outputs over the same windows with the same rule
// (Int8Thresholds); the agent uses those of the file it runs. Without
// calibration windows (e.g. SKAB's detector thresholds) both files use
// the anomaly head's.
//
// The whole manifest is built and validated before dir changes: a result
// whose manifest could not be written, e.g. a NaN or infinite metric (a
// diverged run's val.loss) or threshold, is an error naming it, and the
// bundle already in dir stays as it was (a diverged model is never
// shipped with its metric silently dropped). Then each model file is
// written to a temporary file, synced and renamed into place, the
// directory synced, and the manifest written last the same way; with
// NoInt8 a stale model.int8.onnx is removed only after the new manifest,
// which no longer lists it, is in place.
func WriteBundle(dir string, cfg *rig.Config, res *train.Result, opts BundleOptions) (*Written, error) {
	return WriteBundleContext(context.Background(), dir, cfg, res, opts)
}

// WriteBundleContext is WriteBundle stopped by ctx: it checks ctx before
// each model file is built, every batch of the int8 calibration, and
// before dir changes, and returns ctx's error wrapped once ctx ends (dir
// as it was).
func WriteBundleContext(ctx context.Context, dir string, cfg *rig.Config, res *train.Result, opts BundleOptions) (*Written, error) {
	if cfg == nil || res == nil || res.Model == nil {
		return nil, fmt.Errorf("%w: bundle: nil rig config or training result", ErrExport)
	}
	m := res.Model
	if err := checkResult(cfg, res); err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = cfg.RigType
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Scheme == 0 {
		opts.Scheme = onnx.WeightOnly
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	specDigest, err := res.Spec.Digest()
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
	}
	meta := map[string]string{
		"hydrognn.rig_type":         cfg.RigType,
		"hydrognn.config_digest":    cfg.Digest(),
		"hydrognn.topology_version": cfg.TopologyVersion,
		"hydrognn.input_digest":     specDigest,
		"hydrognn.bundle":           opts.Name + " " + opts.Version,
	}
	outs := Outputs(m)
	inputs := []string{InputX, InputMask}
	w := &Written{Bytes: map[bundle.Precision]int64{}}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	fp, err := Build(m, res.Weights, GraphOptions{Metadata: meta})
	if err != nil {
		return nil, err
	}
	models := []bundle.Model{{File: FileFP32, Precision: bundle.FP32, Quantization: bundle.QuantNone}}
	files := []*onnx.Model{fp}
	if !opts.NoInt8 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", dir, err)
		}
		q, rep, err := Quantized(m, res.Weights, opts.Scheme, GraphOptions{Metadata: meta})
		if err != nil {
			return nil, err
		}
		w.Quant = rep
		qk := bundle.QuantWeightQDQ
		if opts.Scheme == onnx.Dynamic {
			qk = bundle.QuantDynamic
		}
		// The int8 file's errors differ from fp32's: its thresholds are
		// calibrated on its own outputs over the same windows.
		th8, err := int8Thresholds(ctx, res, q, rep)
		if err != nil {
			return nil, err
		}
		models = append(models, bundle.Model{File: FileINT8, Precision: bundle.INT8, Quantization: qk, Thresholds: th8})
		files = append(files, q)
	}
	// The digests and sizes come from the bytes about to be written, not
	// from reading the files back.
	datas := make([][]byte, len(files))
	for i, f := range files {
		data, err := f.Marshal()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrExport, models[i].File, err)
		}
		datas[i] = data
		sum := sha256.Sum256(data)
		models[i].SHA256, models[i].Bytes = hex.EncodeToString(sum[:]), int64(len(data))
		models[i].Opset = Opset
		models[i].Inputs, models[i].Outputs = slices.Clone(inputs), slices.Clone(outs)
		w.Bytes[models[i].Precision] = models[i].Bytes
	}

	prov := opts.Provenance
	if prov.Backend == "" {
		prov.Backend = "go"
	}
	if prov.DurationS == 0 {
		prov.DurationS = math.Round(res.Seconds*10) / 10
	}
	if prov.StartedAt.IsZero() {
		prov.StartedAt = now().Add(-time.Duration(res.Seconds * float64(time.Second))).UTC().Truncate(time.Second)
	}
	if prov.Config == nil {
		prov.Config = Hyperparameters(train.Options{}, res)
	}
	heads := Heads(cfg, res)
	if opts.AnomalyOnly {
		heads = heads[len(heads)-1:]
	}
	if models[len(models)-1].Thresholds != nil {
		// Each file carries its own thresholds; the head keeps fp32's.
		models[0].Thresholds = slices.Clone(heads[len(heads)-1].Thresholds)
	}
	man := &bundle.Manifest{
		FormatVersion:   bundle.FormatVersion,
		Name:            opts.Name,
		Version:         opts.Version,
		RigType:         cfg.RigType,
		ConfigDigest:    cfg.Digest(),
		TopologyVersion: cfg.TopologyVersion,
		CreatedAt:       now().UTC().Truncate(time.Second),
		Input:           res.Spec,
		Components:      slices.Clone(m.NodeIDs),
		Models:          models,
		Heads:           heads,
		Metrics:         Metrics(res),
		Provenance:      prov,
	}
	// The whole manifest is checked before anything in dir changes: a
	// manifest that cannot be written (a NaN metric of a diverged run, a
	// non-finite threshold, ...) leaves the previous bundle as it was.
	if err := man.Validate(); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
	}
	if _, err := json.Marshal(man); err != nil {
		return nil, fmt.Errorf("%w: bundle: encode manifest: %w", ErrExport, err)
	}

	// Model files first (each synced, then renamed into place), the
	// manifest last, so that the manifest on disk only ever lists files
	// already durable.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
	}
	for i, data := range datas {
		if err := writeFile(filepath.Join(dir, models[i].File), data); err != nil {
			return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
		}
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
	}
	if err := bundle.Write(dir, man); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrExport, err)
	}
	if opts.NoInt8 {
		// Only now that the manifest no longer lists it: a stale int8
		// file of an earlier export.
		if err := os.Remove(filepath.Join(dir, FileINT8)); err == nil {
			_ = durable.SyncDir(dir)
		}
	}
	w.Manifest = man
	return w, nil
}

// Quantized builds the int8 model of m: Build with the per-sensor weights
// stored as INT8 (GraphOptions.Int8PerSensor), then onnx.Quantize with
// scheme, per output channel, over the MatMul and GRU weights of at least
// onnx.DefaultMinElements elements. Biases, LayerNorm parameters, the
// attention vectors, the frozen cell statistics and the topology constants
// stay fp32.
func Quantized(m *gnn.Model, w gnn.Weights, scheme onnx.Scheme, opts GraphOptions) (*onnx.Model, *onnx.QuantReport, error) {
	opts.Int8PerSensor = true
	fp, err := Build(m, w, opts)
	if err != nil {
		return nil, nil, err
	}
	q, rep, err := onnx.Quantize(fp, onnx.QuantOptions{Scheme: scheme, PerChannel: true})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	return q, rep, nil
}

// Heads returns the manifest heads of a trained model: health (labels: the
// components), one class head per target in config order (labels and
// values of its classes), anomaly (labels: the input sensors; thresholds:
// res.AnomalyThreshold floored at MinThreshold).
func Heads(cfg *rig.Config, res *train.Result) []bundle.Head {
	heads := []bundle.Head{{Kind: bundle.HeadHealth, Output: OutputHealth, Labels: slices.Clone(res.Model.NodeIDs)}}
	for _, t := range cfg.Targets {
		h := bundle.Head{Kind: bundle.HeadClass, Output: TargetOutput(t.Name), Target: t.Name}
		for _, c := range t.Classes {
			h.Labels = append(h.Labels, c.Label)
			h.Values = append(h.Values, c.Value)
		}
		heads = append(heads, h)
	}
	an := bundle.Head{Kind: bundle.HeadAnomaly, Output: OutputAnomaly}
	for i, s := range res.Spec.Sensors {
		an.Labels = append(an.Labels, s.ID)
		th := MinThreshold
		if i < len(res.AnomalyThreshold) && res.AnomalyThreshold[i] > th {
			th = res.AnomalyThreshold[i]
		}
		an.Thresholds = append(an.Thresholds, th)
	}
	return append(heads, an)
}

// Metrics returns the manifest metrics of a trained model: per target
// "<name>.accuracy" and "<name>.macro_f1" on the validation split, per
// condition target with class healths "<name>.health_mae" and
// "<name>.status_agreement" (the component health diagnoses report, from
// the class head) and "<name>.head_health_mae" and
// "<name>.head_status_agreement" (the health head's, which diagnoses do
// not read; see train.HealthMetrics), plus "val.loss", "val.windows",
// "train.windows" and "best_epoch" (nothing from validation when training
// had none).
func Metrics(res *train.Result) map[string]float64 {
	out := map[string]float64{
		"train.windows": float64(res.TrainWindows),
		"best_epoch":    float64(res.BestEpoch),
	}
	if v := res.Val; v != nil {
		out["val.windows"] = float64(v.N)
		out["val.loss"] = round(v.Loss, 1e-6)
		for _, t := range v.Targets {
			out[t.Name+".accuracy"] = round(t.Accuracy, 1e-6)
			out[t.Name+".macro_f1"] = round(t.MacroF1, 1e-6)
		}
		for _, h := range v.Health {
			out[h.Target+".health_mae"] = round(h.HealthMAE, 1e-6)
			out[h.Target+".status_agreement"] = round(h.StatusAgreement, 1e-6)
			out[h.Target+".head_health_mae"] = round(h.HeadHealthMAE, 1e-6)
			out[h.Target+".head_status_agreement"] = round(h.HeadStatusAgreement, 1e-6)
		}
	}
	return out
}

// Hyperparameters returns the provenance record of a training run: every
// field of res.Model's resolved sizes (gnn.Sizes' JSON names), opts'
// training settings with the trainer's defaults resolved (so the record
// stays true when a default changes), and what the run did (epochs run,
// best epoch, windows, seconds per step).
func Hyperparameters(opts train.Options, res *train.Result) map[string]any {
	out := map[string]any{}
	if res != nil && res.Model != nil {
		// Every field of the resolved sizes, by its JSON name (so that
		// gnn.New(cfg, steps, sizes) rebuilds the same model).
		if b, err := json.Marshal(res.Model.Sizes); err == nil {
			var sizes map[string]any
			if json.Unmarshal(b, &sizes) == nil {
				maps.Copy(out, sizes)
			}
		}
		out["parameters"] = res.Model.NumParams()
		out["epochs_run"] = len(res.History)
		out["best_epoch"] = res.BestEpoch
		out["train_windows"], out["val_windows"] = res.TrainWindows, res.ValWindows
		out["step_seconds"] = round(res.StepSeconds, 1e-4)
	}
	o := opts.Resolved()
	out["seed"] = o.Seed
	out["epochs"] = o.Epochs
	out["patience"] = o.Patience
	out["batch_size"] = o.BatchSize
	out["lr"] = o.LR
	out["min_lr_fraction"] = o.MinLRFraction
	out["ema"] = o.EMA
	out["val_fraction"] = o.ValFraction
	valSplit := o.ValSplit
	if valSplit == "" {
		valSplit = "grouped"
	}
	out["val_split"] = valSplit
	out["weight_decay"] = o.WeightDecay
	out["label_smoothing"] = o.LabelSmoothing
	out["health_weight"] = o.HealthWeight
	out["recon_weight"] = o.ReconWeight
	out["class_weights"] = !o.NoClassWeights
	if len(o.TargetWeights) > 0 {
		out["target_weights"] = o.TargetWeights
	}
	out["shift"] = o.Shift
	out["noise"] = o.Noise
	out["swa"] = o.SWA
	out["anomaly_quantile"] = o.AnomalyQuantile
	if res != nil && len(res.DropoutSensors) > 0 {
		// The sensors the model was trained to judge without: the agent
		// reads them (bundle.Manifest.DropoutSensors).
		out[bundle.DropoutSensorsKey] = slices.Clone(res.DropoutSensors)
		out["sensor_dropout"] = o.SensorDropout
	}
	return out
}

func round(v, unit float64) float64 { return math.Round(v/unit) * unit }

// checkResult verifies that res was trained for cfg.
func checkResult(cfg *rig.Config, res *train.Result) error {
	m := res.Model
	if len(cfg.Components) != m.Nodes || len(cfg.Targets) != len(m.Targets) {
		return fmt.Errorf("%w: bundle: the model has %d nodes and %d targets, rig %q has %d components and %d targets",
			ErrExport, m.Nodes, len(m.Targets), cfg.RigType, len(cfg.Components), len(cfg.Targets))
	}
	for i, c := range cfg.Components {
		if m.NodeIDs[i] != c.ID {
			return fmt.Errorf("%w: bundle: model node %d is %q, rig %q's component %d is %q", ErrExport, i, m.NodeIDs[i], cfg.RigType, i, c.ID)
		}
	}
	for i, t := range cfg.Targets {
		if m.Targets[i].Name != t.Name || m.Targets[i].Classes != len(t.Classes) {
			return fmt.Errorf("%w: bundle: model target %d is %q with %d classes, rig %q has %q with %d",
				ErrExport, i, m.Targets[i].Name, m.Targets[i].Classes, cfg.RigType, t.Name, len(t.Classes))
		}
	}
	if len(res.Spec.Sensors) != m.Sensors || res.Spec.Steps != m.Steps {
		return fmt.Errorf("%w: bundle: input spec has %d sensors x %d steps, the model %d x %d",
			ErrExport, len(res.Spec.Sensors), res.Spec.Steps, m.Sensors, m.Steps)
	}
	for i, s := range res.Spec.Sensors {
		if s.ID != m.SensorIDs[i] {
			return fmt.Errorf("%w: bundle: input sensor %d is %q, the model's is %q", ErrExport, i, s.ID, m.SensorIDs[i])
		}
	}
	return nil
}

// writeFile writes data atomically and durably: a temporary file in the
// same directory, synced, then renamed into place (the caller syncs the
// directory, syncDir). The temporary file is removed on every failure.
func writeFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; a bundle is meant to be read by the
	// agent's service user and shipped.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
