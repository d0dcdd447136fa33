package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateAnomalyLabelsAreInputOrder: the graph outputs one anomaly
// error per input sensor in input order and the agent reads element j as
// label j's, so an anomaly head whose labels are not exactly the input
// sensor ids in order (permuted, duplicated, one short or one too many)
// is refused, naming the first position that differs (the old Validate
// took any labels; agent/infer only checked each was an input sensor).
func TestValidateAnomalyLabelsAreInputOrder(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(labels []string, thr []float64) ([]string, []float64)
	}{
		{"reversed", `heads[1].labels: label "SE" at position 0, the input sensor there is "PS1"`,
			func(l []string, th []float64) ([]string, []float64) {
				slices.Reverse(l)
				return l, th
			}},
		{"swapped", `heads[1].labels: label "PS3" at position 1, the input sensor there is "PS2"`,
			func(l []string, th []float64) ([]string, []float64) {
				l[1], l[2] = l[2], l[1]
				return l, th
			}},
		{"duplicate", `heads[1].labels: label "PS1" at position 1, the input sensor there is "PS2"`,
			func(l []string, th []float64) ([]string, []float64) {
				l[1] = l[0]
				return l, th
			}},
		{"one short", `heads[1].labels: 16 labels, the input has 17 sensors: input sensor "SE" (position 16) has no label`,
			func(l []string, th []float64) ([]string, []float64) {
				return l[:len(l)-1], th[:len(th)-1]
			}},
		{"one too many", `heads[1].labels: 18 labels, the input has 17 sensors: label "XX" (position 17) is past the input's sensors`,
			func(l []string, th []float64) ([]string, []float64) {
				return append(l, "XX"), append(th, 1)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, m := writeBundle(t, zema(t))
			h := &m.Heads[1]
			require.Equal(t, HeadAnomaly, h.Kind)
			h.Labels, h.Thresholds = tc.edit(slices.Clone(h.Labels), slices.Clone(h.Thresholds))
			err := m.Validate()
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, m := writeBundle(t, zema(t))
	require.NoError(t, m.Validate())
}

// TestShippedBundlesValidate: every bundle in models/bundles loads (Load
// validates), anomaly labels included.
func TestShippedBundlesValidate(t *testing.T) {
	root := filepath.Join("..", "..", "models", "bundles")
	ents, err := os.ReadDir(root)
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			m, err := Load(filepath.Join(root, e.Name()))
			require.NoError(t, err)
			an := m.anomalyHead()
			require.NotNil(t, an)
			ids := make([]string, len(m.Input.Sensors))
			for i, s := range m.Input.Sensors {
				ids[i] = s.ID
			}
			assert.Equal(t, ids, an.Labels)
		})
	}
	require.NotZero(t, n, "no bundle in %s", root)
}
