package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// FormatVersion is the custom-metadata format this package reads and writes.
const FormatVersion = 1

// MaxCustomSize caps the encoded custom metadata of one target (64 KiB).
const MaxCustomSize = 64 << 10

// ArchiveSuffix ends every release target's path.
const ArchiveSuffix = ".tar.gz"

// ErrInvalid is returned (wrapped) when custom metadata is malformed or
// fails validation.
var ErrInvalid = errors.New("invalid release metadata")

// ExecutionProviders the agent knows.
var ExecutionProviders = []string{"cpu", "cuda", "tensorrt"}

// DefaultHardware is the hardware a release supports when its maker names
// none: any Linux machine of the two architectures the agent is built for.
var DefaultHardware = []string{"amd64", "arm64"}

// Target is a release's custom metadata: the "custom" object of its TUF
// target. Every field is required unless it says otherwise.
type Target struct {
	// FormatVersion must be FormatVersion.
	FormatVersion int `json:"format_version"`
	// Bundle and Version are the bundle manifest's name and semantic
	// version.
	Bundle  string `json:"bundle"`
	Version string `json:"version"`
	// RigType and ConfigDigest ("sha256:<hex>") bind the release to one
	// firmware config, as the manifest does.
	RigType      string `json:"rig_type"`
	ConfigDigest string `json:"config_digest"`
	// ManifestDigest is bundle.Manifest.Digest of the archived manifest, so
	// the agent can tie the extracted bundle to this metadata.
	ManifestDigest string `json:"manifest_digest"`
	// ExecutionProviders the models were checked with, from
	// ExecutionProviders; at least one ("cpu" when the manifest names none).
	ExecutionProviders []string `json:"execution_providers"`
	// Hardware the release supports: lowercase tokens such as "amd64",
	// "arm64" or "jetson-orin"; at least one.
	Hardware []string `json:"hardware"`
	// MinAgentVersion is the oldest rig-agent that can run the bundle
	// (semantic version); empty means any.
	MinAgentVersion string `json:"min_agent_version,omitempty"`
	// Precisions of the bundle's model files ("fp32", "int8"), each once.
	Precisions []bundle.Precision `json:"precisions"`
}

var (
	versionPattern = regexp.MustCompile(`^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$`)
	namePattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
	digestPattern  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// FromManifest returns the custom metadata of a release of m supporting
// hardware (DefaultHardware when empty). The result is validated.
func FromManifest(m *bundle.Manifest, hardware []string) (*Target, error) {
	if len(hardware) == 0 {
		hardware = DefaultHardware
	}
	eps := m.ExecutionProviders
	if len(eps) == 0 {
		eps = []string{"cpu"}
	}
	var precs []bundle.Precision
	for _, mf := range m.Models {
		if !slices.Contains(precs, mf.Precision) {
			precs = append(precs, mf.Precision)
		}
	}
	t := &Target{
		FormatVersion:      FormatVersion,
		Bundle:             m.Name,
		Version:            m.Version,
		RigType:            m.RigType,
		ConfigDigest:       m.ConfigDigest,
		ManifestDigest:     m.Digest(),
		ExecutionProviders: slices.Clone(eps),
		Hardware:           slices.Clone(hardware),
		MinAgentVersion:    m.MinAgentVersion,
		Precisions:         precs,
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Path is the target's path in the repository:
// "<rig_type>/<bundle>-<version>.tar.gz". Paths are immutable: a new
// bundle needs a new version.
func (t *Target) Path() string {
	return t.RigType + "/" + t.Bundle + "-" + t.Version + ArchiveSuffix
}

// Validate checks every field and returns all problems at once, each naming
// the field and its value, wrapped in ErrInvalid.
func (t *Target) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if t.FormatVersion != FormatVersion {
		bad("format_version: %d is not supported (want %d)", t.FormatVersion, FormatVersion)
	}
	if !namePattern.MatchString(t.Bundle) {
		bad("bundle: %q is not a bundle name (lowercase letters, digits, '.', '_', '-'; at most 100)", t.Bundle)
	}
	if !versionPattern.MatchString(t.Version) {
		bad("version: %q is not a semantic version (e.g. 1.2.0)", t.Version)
	}
	if !namePattern.MatchString(t.RigType) {
		bad("rig_type: %q is not a rig type (lowercase letters, digits, '.', '_', '-')", t.RigType)
	}
	if !digestPattern.MatchString(t.ConfigDigest) {
		bad("config_digest: %q is not sha256:<64 lowercase hex>", t.ConfigDigest)
	}
	if !digestPattern.MatchString(t.ManifestDigest) {
		bad("manifest_digest: %q is not sha256:<64 lowercase hex>", t.ManifestDigest)
	}
	checkSet(bad, "execution_providers", t.ExecutionProviders, func(s string) bool {
		return slices.Contains(ExecutionProviders, s)
	}, "is not one of "+strings.Join(ExecutionProviders, ", "))
	checkSet(bad, "hardware", t.Hardware, namePattern.MatchString, "is not a hardware token (lowercase letters, digits, '.', '_', '-')")
	if t.MinAgentVersion != "" && !versionPattern.MatchString(t.MinAgentVersion) {
		bad("min_agent_version: %q is not a semantic version (e.g. 0.4.0)", t.MinAgentVersion)
	}
	precs := make([]string, len(t.Precisions))
	for i, p := range t.Precisions {
		precs[i] = string(p)
	}
	checkSet(bad, "precisions", precs, func(s string) bool {
		return s == string(bundle.FP32) || s == string(bundle.INT8)
	}, "is not fp32 or int8")
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// checkSet reports an empty list, a value ok refuses and a duplicate.
func checkSet(bad func(string, ...any), field string, vals []string, ok func(string) bool, why string) {
	if len(vals) == 0 {
		bad("%s: at least one is required", field)
	}
	for i, v := range vals {
		switch {
		case !ok(v):
			bad("%s[%d]: %q %s", field, i, v, why)
		case slices.Contains(vals[:i], v):
			bad("%s[%d]: %q is listed twice", field, i, v)
		}
	}
}

// Decode reads custom metadata strictly (unknown fields, trailing data and
// values Validate refuses are errors wrapping ErrInvalid).
func Decode(data []byte) (*Target, error) {
	if len(data) > MaxCustomSize {
		return nil, fmt.Errorf("%w: custom metadata is %d bytes, more than %d", ErrInvalid, len(data), MaxCustomSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Target
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: custom metadata: %w", ErrInvalid, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, fmt.Errorf("%w: custom metadata: trailing data after the JSON object", ErrInvalid)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Encode returns t's JSON after validating it.
func (t *Target) Encode() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

// FromTargetFile decodes the custom metadata of a verified TUF target (for
// example from updater.GetTargetInfo) and checks it matches the target's
// path. A target without custom metadata is refused.
func FromTargetFile(tf *metadata.TargetFiles) (*Target, error) {
	if tf == nil || tf.Custom == nil || len(*tf.Custom) == 0 {
		return nil, fmt.Errorf("%w: target has no custom metadata", ErrInvalid)
	}
	t, err := Decode(*tf.Custom)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", tf.Path, err)
	}
	if tf.Path != "" && tf.Path != t.Path() {
		return nil, fmt.Errorf("%w: target %s: its custom metadata describes %s", ErrInvalid, tf.Path, t.Path())
	}
	return t, nil
}

// Apply validates t and sets it as tf's custom metadata.
func (t *Target) Apply(tf *metadata.TargetFiles) error {
	b, err := t.Encode()
	if err != nil {
		return err
	}
	raw := json.RawMessage(b)
	tf.Custom = &raw
	return nil
}
