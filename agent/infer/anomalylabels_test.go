package infer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestOpenRefusesAnomalyLabelsOutOfInputOrder: the graph's anomaly output
// is in input-spec order and Run reads element j as label j's score,
// threshold and mask, so a manifest whose anomaly labels (and thresholds)
// are permuted is refused; the old Open accepted the shipped zema bundle
// with them reversed and reported PS1's error as SE's.
func TestOpenRefusesAnomalyLabelsOutOfInputOrder(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../models/bundles/zema-testrig")))
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	for i := range man.Heads {
		if h := &man.Heads[i]; h.Kind == bundle.HeadAnomaly {
			slices.Reverse(h.Labels)
			slices.Reverse(h.Thresholds)
		}
	}
	for i := range man.Models {
		slices.Reverse(man.Models[i].Thresholds)
	}
	// Write validates too: write the manifest as a hand edit would.
	b, err := json.MarshalIndent(man, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, bundle.ManifestFile), b, 0o644))
	_, err = Open(dir, loadRig(t, zemaConfig), Options{Logger: quiet})
	require.ErrorIs(t, err, bundle.ErrInvalid)
	assert.Contains(t, err.Error(), `label "SE" at position 0, the input sensor there is "PS1"`)
}
