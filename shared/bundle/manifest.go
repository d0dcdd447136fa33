// Package bundle defines a model bundle: a directory holding ONNX model files
// and a manifest (manifest.json) that says which rig the models are for, how
// their input is prepared, what their outputs mean and how they were made.
//
// The edge agent loads bundles with Load and refuses one whose rig type,
// firmware-config digest or input sensors do not match its rig
// (Manifest.CheckRig); the trainer writes them with Write. The manifest is
// decoded strictly: an unknown field is an error, so a bundle written by a
// newer trainer is refused with a clear message instead of half-understood.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// FormatVersion is the manifest format this package writes and the
// newest it reads. Format 2 added Model.Thresholds (per-file anomaly
// thresholds); format 1 manifests (MinFormatVersion) are still read, their
// files using the anomaly head's thresholds.
const FormatVersion = 2

// MinFormatVersion is the oldest manifest format this package reads.
const MinFormatVersion = 1

// ManifestFile is the manifest's file name inside a bundle directory.
const ManifestFile = "manifest.json"

// MaxManifestSize caps manifest.json (4 MiB).
const MaxManifestSize = 4 << 20

// MaxModelSize caps one model file (256 MiB).
const MaxModelSize = 256 << 20

// ErrMismatch is returned (wrapped) by CheckRig when a bundle was not made
// for the given rig.
var ErrMismatch = errors.New("bundle does not match the rig")

// ErrInvalid is returned (wrapped) when a manifest is malformed or a model
// file does not match its recorded digest or size.
var ErrInvalid = errors.New("invalid model bundle")

// Precision of a model file.
type Precision string

// Precisions.
const (
	FP32 Precision = "fp32"
	INT8 Precision = "int8"
)

// Quantization is how an int8 model was quantized.
type Quantization string

// Quantization schemes (see docs/ml-notes in the project's docs).
const (
	// QuantNone is a float model.
	QuantNone Quantization = "none"
	// QuantWeightQDQ stores int8 weights behind DequantizeLinear; the agent
	// folds them at load (session.disable_quant_qdq=1): small files, fp32
	// speed.
	QuantWeightQDQ Quantization = "weight-qdq"
	// QuantDynamic uses DynamicQuantizeLinear + MatMulInteger: int8
	// arithmetic, faster for large matrices. Its activations share one
	// quantisation scale over the whole batch, so a window's outputs
	// depend on the other windows run with it: exact per window only at
	// batch 1 (models/export/README.md).
	QuantDynamic Quantization = "dynamic"
)

// HeadKind is the kind of a model output.
type HeadKind string

// Head kinds.
const (
	// HeadHealth outputs per-component health in [0, 1], shape [B, N].
	HeadHealth HeadKind = "health"
	// HeadClass outputs class probabilities of one target, shape [B, C].
	HeadClass HeadKind = "class"
	// HeadAnomaly outputs per-sensor anomaly errors, shape [B, S]; each is
	// divided by its calibrated threshold to give a score (1 = threshold).
	HeadAnomaly HeadKind = "anomaly"
	// HeadRUL outputs remaining useful life in hours, shape [B, 3]
	// (quantiles 0.1, 0.5, 0.9).
	HeadRUL HeadKind = "rul"
)

// Manifest describes one model bundle.
type Manifest struct {
	// FormatVersion is MinFormatVersion..FormatVersion.
	FormatVersion int `json:"format_version"`
	// Name and Version identify the bundle (Version: semantic version,
	// compared by the update flow to refuse downgrades).
	Name    string `json:"name"`
	Version string `json:"version"`
	// RigType, ConfigDigest and TopologyVersion bind the bundle to one
	// firmware config (rig.Config.Digest).
	RigType         string `json:"rig_type"`
	ConfigDigest    string `json:"config_digest"`
	TopologyVersion string `json:"topology_version"`
	// CreatedAt is when the bundle was written.
	CreatedAt time.Time `json:"created_at"`
	// Input is the preprocessing spec: sensors, grid, window,
	// normalisation statistics.
	Input prep.Spec `json:"input"`
	// Components are the graph nodes in model order (the config's
	// component ids).
	Components []string `json:"components"`
	// Models are the ONNX files; at least one.
	Models []Model `json:"models"`
	// Heads say what each output means.
	Heads []Head `json:"heads"`
	// Metrics are validation metrics (e.g. "cooler.accuracy"); each finite.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Provenance records how the bundle was made.
	Provenance Provenance `json:"provenance"`
	// ExecutionProviders the models were checked with ("cpu", "cuda",
	// "tensorrt"); empty means cpu only.
	ExecutionProviders []string `json:"execution_providers,omitempty"`
	// MinAgentVersion is the oldest rig-agent that can run the bundle.
	MinAgentVersion string `json:"min_agent_version,omitempty"`
}

// Model is one ONNX file of a bundle.
type Model struct {
	// File is the path relative to the bundle directory (no "..").
	File         string       `json:"file"`
	Precision    Precision    `json:"precision"`
	Quantization Quantization `json:"quantization"`
	// SHA256 (hex) and Bytes are checked by Load.
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// Opset is the ONNX opset.
	Opset int `json:"opset"`
	// Inputs and Outputs are the graph's tensor names, in order.
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
	// Thresholds are the anomaly head's per-sensor thresholds calibrated
	// on this file's own outputs (the head's label order; format 2). An
	// int8 file's errors differ from the fp32 file's, so each file gets
	// its own; empty: the anomaly head's Thresholds. See
	// Manifest.AnomalyThresholds.
	Thresholds []float64 `json:"thresholds,omitempty"`
}

// Head is one output of the models.
type Head struct {
	Kind HeadKind `json:"kind"`
	// Output is the graph output's name.
	Output string `json:"output"`
	// Target is the firmware-config target of a class head.
	Target string `json:"target,omitempty"`
	// Labels and Values describe a class head's classes, in output order
	// (the target's class order); for health heads Labels are component
	// ids, for anomaly heads sensor ids: the input spec's sensor ids, all
	// of them in input order (the graph's output order), which Validate
	// requires.
	Labels []string  `json:"labels,omitempty"`
	Values []float64 `json:"values,omitempty"`
	// Thresholds are an anomaly head's calibrated per-sensor thresholds:
	// those of a model file without its own (Model.Thresholds).
	Thresholds []float64 `json:"thresholds,omitempty"`
}

// Provenance records the training run that produced a bundle.
type Provenance struct {
	// Dataset names the training data (e.g. "uci:../shared/data/...").
	Dataset string `json:"dataset"`
	// DatasetDigest is a digest of the data read.
	DatasetDigest string `json:"dataset_digest,omitempty"`
	// CodeVersion is the project's version (git describe).
	CodeVersion string `json:"code_version"`
	// Backend is the training backend, e.g. "go" or "xla:cuda".
	Backend string `json:"backend,omitempty"`
	Seed    int64  `json:"seed"`
	// Config holds the training hyperparameters.
	Config    map[string]any `json:"config,omitempty"`
	StartedAt time.Time      `json:"started_at"`
	// DurationS is the training time in seconds.
	DurationS float64 `json:"duration_s"`
}

var versionPattern = regexp.MustCompile(`^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$`)

// Validate checks the manifest's own consistency (not the files).
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if m.FormatVersion < MinFormatVersion || m.FormatVersion > FormatVersion {
		bad("format_version: %d is not supported (want %d to %d)", m.FormatVersion, MinFormatVersion, FormatVersion)
	}
	if strings.TrimSpace(m.Name) == "" {
		bad("name: is required")
	}
	if !versionPattern.MatchString(m.Version) {
		bad("version: %q is not a semantic version (e.g. 1.2.0)", m.Version)
	}
	if m.RigType == "" {
		bad("rig_type: is required")
	}
	if !strings.HasPrefix(m.ConfigDigest, "sha256:") {
		bad("config_digest: %q is not a sha256 digest", m.ConfigDigest)
	}
	if err := m.Input.Validate(); err != nil {
		bad("input: %w", err)
	}
	if len(m.Components) == 0 {
		bad("components: at least one is required")
	}
	if len(m.Models) == 0 {
		bad("models: at least one is required")
	}
	for i, mf := range m.Models {
		p := fmt.Sprintf("models[%d]", i)
		if mf.File == "" || filepath.IsAbs(mf.File) || strings.Contains(filepath.ToSlash(mf.File), "..") {
			bad("%s.file: %q must be a relative path inside the bundle", p, mf.File)
		}
		if mf.Precision != FP32 && mf.Precision != INT8 {
			bad("%s.precision: %q is not fp32 or int8", p, mf.Precision)
		}
		switch mf.Quantization {
		case QuantNone, QuantWeightQDQ, QuantDynamic:
		default:
			bad("%s.quantization: %q is not none, weight-qdq or dynamic", p, mf.Quantization)
		}
		if _, err := hex.DecodeString(mf.SHA256); err != nil || len(mf.SHA256) != 64 {
			bad("%s.sha256: %q is not a hex sha256", p, mf.SHA256)
		}
		if mf.Bytes <= 0 || mf.Bytes > MaxModelSize {
			bad("%s.bytes: %d is out of range (0, %d]", p, mf.Bytes, MaxModelSize)
		}
		if len(mf.Inputs) == 0 || len(mf.Outputs) == 0 {
			bad("%s: inputs and outputs are required", p)
		}
		if len(mf.Thresholds) > 0 {
			an := m.anomalyHead()
			switch {
			case m.FormatVersion < 2:
				bad("%s.thresholds: needs format_version 2 (the manifest says %d)", p, m.FormatVersion)
			case an == nil:
				bad("%s.thresholds: the manifest has no anomaly head", p)
			case len(mf.Thresholds) != len(an.Labels):
				bad("%s.thresholds: %d thresholds, the anomaly head has %d sensor labels", p, len(mf.Thresholds), len(an.Labels))
			}
			for j, th := range mf.Thresholds {
				if !(th > 0) || math.IsInf(th, 0) {
					bad("%s.thresholds[%d]: %v must be > 0 and finite", p, j, th)
				}
			}
		}
	}
	if len(m.Heads) == 0 {
		bad("heads: at least one is required")
	}
	for i, h := range m.Heads {
		p := fmt.Sprintf("heads[%d]", i)
		switch h.Kind {
		case HeadHealth:
			if len(h.Labels) != len(m.Components) {
				bad("%s.labels: a health head has %d labels, want one per component (%d)", p, len(h.Labels), len(m.Components))
			}
		case HeadClass:
			if h.Target == "" {
				bad("%s.target: is required for a class head", p)
			}
			if len(h.Labels) < 2 || len(h.Labels) != len(h.Values) {
				bad("%s: a class head needs at least 2 labels and one value per label", p)
			}
		case HeadAnomaly:
			if len(h.Labels) != len(h.Thresholds) || len(h.Labels) == 0 {
				bad("%s: an anomaly head needs one threshold per sensor label", p)
			}
			if err := anomalyLabels(h.Labels, m.Input); err != nil {
				bad("%s.labels: %w", p, err)
			}
			for j, th := range h.Thresholds {
				if !(th > 0) || math.IsInf(th, 0) {
					bad("%s.thresholds[%d]: %v must be > 0 and finite", p, j, th)
				}
			}
		case HeadRUL:
		default:
			bad("%s.kind: %q is not health, class, anomaly or rul", p, h.Kind)
		}
		if h.Output == "" {
			bad("%s.output: is required", p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metrics)) {
		// JSON has no NaN or infinity: such a metric (a diverged run's
		// loss) could not be written.
		if v := m.Metrics[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			bad("metrics.%s: %v is not a finite number", k, v)
		}
	}
	if _, ok := m.Provenance.Config[DropoutSensorsKey]; ok {
		ids, err := m.dropoutSensors()
		if err != nil {
			bad("provenance.config.%s: %w", DropoutSensorsKey, err)
		}
		for _, id := range ids {
			if m.Input.Index(id) < 0 {
				bad("provenance.config.%s: %q is not an input sensor", DropoutSensorsKey, id)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// anomalyLabels checks an anomaly head's labels against the input spec:
// the graph outputs one error per input sensor, in input order, and the
// agent reads element j as the score of label j, so the labels must be
// the input sensor ids in that order (which also rules out duplicates).
// The error names the first position that differs.
func anomalyLabels(labels []string, in prep.Spec) error {
	for j := range max(len(labels), len(in.Sensors)) {
		switch {
		case j >= len(labels):
			return fmt.Errorf("%d labels, the input has %d sensors: input sensor %q (position %d) has no label; an anomaly head's labels are the input sensor ids in input order",
				len(labels), len(in.Sensors), in.Sensors[j].ID, j)
		case j >= len(in.Sensors):
			return fmt.Errorf("%d labels, the input has %d sensors: label %q (position %d) is past the input's sensors; an anomaly head's labels are the input sensor ids in input order",
				len(labels), len(in.Sensors), labels[j], j)
		case labels[j] != in.Sensors[j].ID:
			return fmt.Errorf("label %q at position %d, the input sensor there is %q; an anomaly head's labels are the input sensor ids in input order (the graph's output order)",
				labels[j], j, in.Sensors[j].ID)
		}
	}
	return nil
}

// DropoutSensorsKey is the provenance.config key that lists, in input
// order, the input sensors the models were trained to judge without: the
// trainer masked each one's whole window in a share of the training
// windows (the firmware config's may_drop_out, models/train
// Options.SensorDropout). A bundle without the key (trained before the
// flag existed, or with no sensor flagged) was trained with none.
const DropoutSensorsKey = "dropout_sensors"

// DropoutSensors returns the input sensors the bundle's models were
// trained to judge without (provenance.config.dropout_sensors; nil when
// there are none). The agent judges the class targets of a window in
// which one of them is missing, and no class target of a window in which
// another input sensor is. A manifest that passed Validate holds a valid
// list.
func (m *Manifest) DropoutSensors() []string {
	ids, _ := m.dropoutSensors()
	return ids
}

// dropoutSensors decodes provenance.config.dropout_sensors: a []string
// as the trainer sets it, or a []any of strings as JSON decodes it.
func (m *Manifest) dropoutSensors() ([]string, error) {
	switch v := m.Provenance.Config[DropoutSensorsKey].(type) {
	case nil:
		return nil, nil
	case []string:
		return slices.Clone(v), nil
	case []any:
		ids := make([]string, 0, len(v))
		for i, x := range v {
			id, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("[%d]: %v is not a sensor id", i, x)
			}
			ids = append(ids, id)
		}
		return ids, nil
	default:
		return nil, fmt.Errorf("%v is not a list of sensor ids", v)
	}
}

// CheckRig returns an error wrapping ErrMismatch, naming every difference,
// when the bundle was not made for cfg: another rig type, firmware-config
// digest, component order, or an input sensor the rig does not have (or has
// at another rate or unit).
func (m *Manifest) CheckRig(cfg *rig.Config) error {
	var diffs []string
	if m.RigType != cfg.RigType {
		diffs = append(diffs, fmt.Sprintf("rig type %q, the rig is %q", m.RigType, cfg.RigType))
	}
	if d := cfg.Digest(); m.ConfigDigest != d {
		diffs = append(diffs, fmt.Sprintf("firmware-config digest %s, the rig's is %s", m.ConfigDigest, d))
	}
	comps := make([]string, len(cfg.Components))
	for i, c := range cfg.Components {
		comps[i] = c.ID
	}
	if !slices.Equal(m.Components, comps) {
		diffs = append(diffs, fmt.Sprintf("components %v, the rig has %v", m.Components, comps))
	}
	for _, s := range m.Input.Sensors {
		rs := cfg.Sensor(s.ID)
		switch {
		case rs == nil:
			diffs = append(diffs, fmt.Sprintf("input sensor %q is not on the rig", s.ID))
		case rs.RateHz != s.RateHz:
			diffs = append(diffs, fmt.Sprintf("input sensor %q at %g Hz, the rig's is %g Hz", s.ID, s.RateHz, rs.RateHz))
		case s.Unit != "" && rs.Unit != s.Unit:
			diffs = append(diffs, fmt.Sprintf("input sensor %q in %s, the rig's is in %s", s.ID, s.Unit, rs.Unit))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: bundle %s %s: %s", ErrMismatch, m.Name, m.Version, strings.Join(diffs, "; "))
	}
	return nil
}

// anomalyHead returns the first anomaly head, or nil.
func (m *Manifest) anomalyHead() *Head {
	for i := range m.Heads {
		if m.Heads[i].Kind == HeadAnomaly {
			return &m.Heads[i]
		}
	}
	return nil
}

// AnomalyThresholds returns the anomaly thresholds to use with model file
// mf (one of m.Models): its own (Model.Thresholds, calibrated on its
// outputs) when it has them, else the anomaly head's; nil without an
// anomaly head.
func (m *Manifest) AnomalyThresholds(mf *Model) []float64 {
	if mf != nil && len(mf.Thresholds) > 0 {
		return mf.Thresholds
	}
	if h := m.anomalyHead(); h != nil {
		return h.Thresholds
	}
	return nil
}

// Model returns the first model file of the given precision, or nil.
func (m *Manifest) Model(p Precision) *Model {
	for i := range m.Models {
		if m.Models[i].Precision == p {
			return &m.Models[i]
		}
	}
	return nil
}

// Decode reads a manifest strictly (unknown fields are errors) and
// validates it.
func Decode(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest is larger than %d bytes", ErrInvalid, MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %s", ErrInvalid, describeJSONError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: manifest: trailing data after the JSON object", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ManifestFormat returns the format_version of the manifest data (the
// bytes of a manifest.json, at most MaxManifestSize), reading that field
// only: it works for formats newer than this package reads, for a reader
// that only needs to compare formats (rig-cloud's rollouts, which offer a
// release only to agents reading its bundle's format). A manifest whose
// format_version is missing or below 1 is an error wrapping ErrInvalid.
func ManifestFormat(data []byte) (int, error) {
	if len(data) > MaxManifestSize {
		return 0, fmt.Errorf("%w: manifest is larger than %d bytes", ErrInvalid, MaxManifestSize)
	}
	var m struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, fmt.Errorf("%w: manifest: %s", ErrInvalid, describeJSONError(data, err))
	}
	if m.FormatVersion == nil || *m.FormatVersion < 1 {
		return 0, fmt.Errorf("%w: manifest: format_version is missing or below 1", ErrInvalid)
	}
	return *m.FormatVersion, nil
}

func describeJSONError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Sprintf("line %d column %d: %v", line, col, se)
	case errors.As(err, &te):
		line, col := position(data, te.Offset)
		return fmt.Sprintf("line %d column %d: %s: %s is not %s", line, col, te.Field, te.Value, te.Type)
	}
	return err.Error()
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// Load reads dir/manifest.json and checks every model file's size and
// sha256. It does not check the rig: call CheckRig.
func Load(dir string) (*Manifest, error) {
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", dir, err)
	}
	defer f.Close()
	m, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", dir, err)
	}
	for _, mf := range m.Models {
		sum, n, err := hashFile(filepath.Join(dir, mf.File))
		if err != nil {
			return nil, fmt.Errorf("load bundle %s: %w", dir, err)
		}
		if n != mf.Bytes || sum != mf.SHA256 {
			return nil, fmt.Errorf("%w: %s: %s is %d bytes with sha256 %s, the manifest says %d bytes with %s",
				ErrInvalid, dir, mf.File, n, sum, mf.Bytes, mf.SHA256)
		}
	}
	return m, nil
}

// Digest returns "sha256:<hex>" over the manifest's JSON encoding; the
// manifest holds the model files' digests, so this identifies the bundle.
func (m *Manifest) Digest() string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("bundle: marshal manifest: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FillModel sets a model entry's SHA256 and Bytes from the file in dir.
func FillModel(dir string, mf *Model) error {
	sum, n, err := hashFile(filepath.Join(dir, mf.File))
	if err != nil {
		return err
	}
	mf.SHA256, mf.Bytes = sum, n
	return nil
}

// Write validates m and writes it as dir/manifest.json (atomically: a
// temporary file renamed into place). The model files must already be in
// dir with their digests filled (see FillModel).
func Write(dir string, m *Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".manifest-*")
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600; a bundle is meant to be read by the
	// agent's service user and shipped.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, ManifestFile))
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxModelSize+1))
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	if n > MaxModelSize {
		return "", 0, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, MaxModelSize)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
