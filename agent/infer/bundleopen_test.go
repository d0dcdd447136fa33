package infer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// TestOpenUsesThresholdsOfTheFile: a bundle whose files carry their own
// anomaly thresholds (format 2) is scored with the thresholds of the file
// the agent runs: int8's when it runs int8 (the default), fp32's when
// forced to fp32. Here int8's are twice fp32's, so the same window's
// int8 scores are about half its fp32 scores.
func TestOpenUsesThresholdsOfTheFile(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	dir := si.writeBundle(t, bundleOpts{mutate: func(m *bundle.Manifest) {
		own := make([]float64, len(si.thr))
		for i, th := range si.thr {
			own[i] = 2 * th
		}
		m.Model(bundle.INT8).Thresholds = own
		m.Model(bundle.FP32).Thresholds = append([]float64(nil), si.thr...)
	}})
	w := si.window(t, 1, nil, nil)
	scores := func(p bundle.Precision) []float64 {
		m := open(t, dir, si, Options{Precision: p})
		out, err := m.Run([]*prep.Window{w})
		require.NoError(t, err)
		var s []float64
		for _, sc := range out.Results[0].Sensors {
			s = append(s, sc.Score)
		}
		return s
	}
	s8, s32 := scores(""), scores(bundle.FP32)
	require.Len(t, s8, si.S)
	for i := range s8 {
		assert.InDelta(t, s32[i]/2, s8[i], 0.03*s32[i]+1e-9, "sensor %d: int8 score with int8's thresholds", i)
	}
}

// withMetadata rewrites the bundle's model files with ONNX metadata md
// (what models/export writes) and their digests in the manifest; edit, if
// set, changes the manifest afterwards.
func withMetadata(t *testing.T, dir string, md map[string]string, edit func(*bundle.Manifest)) {
	t.Helper()
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	for i := range man.Models {
		p := filepath.Join(dir, man.Models[i].File)
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		m, err := onnx.Unmarshal(data)
		require.NoError(t, err)
		m.Metadata = md
		data, err = m.Marshal()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		require.NoError(t, bundle.FillModel(dir, &man.Models[i]))
	}
	if edit != nil {
		edit(man)
	}
	require.NoError(t, bundle.Write(dir, man))
}

// TestOpenChecksONNXDigests: the input-spec and config digests in a model
// file's ONNX metadata must be the manifest's; a manifest re-edited with
// other normalisation stats (its file checksums still right) is refused,
// naming the file and both digests.
func TestOpenChecksONNXDigests(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	specDigest, err := si.spec.Digest()
	require.NoError(t, err)
	good := map[string]string{MetaInputDigest: specDigest, MetaConfigDigest: si.cfg.Digest()}

	dir := si.writeBundle(t, bundleOpts{})
	withMetadata(t, dir, good, nil)
	open(t, dir, si, Options{})

	// New stats in the manifest: the files were made for the old ones.
	dir = si.writeBundle(t, bundleOpts{})
	var edited string
	withMetadata(t, dir, good, func(m *bundle.Manifest) {
		m.Input.Sensors[0].Mean += 1
		edited, err = m.Input.Digest()
		require.NoError(t, err)
	})
	for _, p := range []bundle.Precision{"", bundle.FP32} {
		m, err := Open(dir, si.cfg, Options{Precision: p, Logger: quiet})
		require.Error(t, err)
		assert.Nil(t, m)
		assert.ErrorIs(t, err, bundle.ErrInvalid)
		file := int8File
		if p == bundle.FP32 {
			file = fp32File
		}
		assert.Contains(t, err.Error(), file+" does not belong to this manifest")
		assert.Contains(t, err.Error(), "ONNX metadata hydrognn.input_digest is "+specDigest+", the manifest's input spec has "+edited)
	}

	// A file made for another config digest: the manifest's config_digest
	// binds the bundle (rebinding it to a revision of the config, as
	// agenttest.IsolatedRig does, is supported), so this is accepted.
	dir = si.writeBundle(t, bundleOpts{})
	other := map[string]string{MetaInputDigest: specDigest, MetaConfigDigest: "sha256:0000"}
	withMetadata(t, dir, other, nil)
	open(t, dir, si, Options{})
}
