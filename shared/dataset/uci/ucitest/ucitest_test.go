package ucitest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

// TestSubset: every every-th line of each data file, from the first, in a
// folder of the same layout; the description files are left out.
func TestSubset(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "uci-hydraulic-1hz")
	require.NoError(t, os.Mkdir(src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "PS1.txt"), []byte("a\nb\nc\nd\ne\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "profile.txt"), []byte("1\n2\n3\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "description.txt"), []byte("x\n"), 0o644))
	t.Setenv(dataset.EnvDir, root)

	dst := Subset(t, 2)
	ents, err := os.ReadDir(dst)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"PS1.txt", "profile.txt"}, names)
	b, err := os.ReadFile(filepath.Join(dst, "PS1.txt"))
	require.NoError(t, err)
	assert.Equal(t, "a\nc\ne\n", string(b))
	b, err = os.ReadFile(filepath.Join(dst, "profile.txt"))
	require.NoError(t, err)
	assert.Equal(t, "1\n3\n", string(b))
}

// TestCycles: the lines keep picks, of every data file and of
// cycles.txt, so that each kept line keeps its original cycle number.
func TestCycles(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "uci-hydraulic-1hz")
	require.NoError(t, os.Mkdir(src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "PS1.txt"), []byte("a\nb\nc\nd\ne\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "cycles.txt"), []byte("212\n213\n225\n226\n240\n"), 0o644))
	t.Setenv(dataset.EnvDir, root)

	dst := Cycles(t, func(i int) bool { return i == 1 || i == 2 || i == 4 })
	b, err := os.ReadFile(filepath.Join(dst, "PS1.txt"))
	require.NoError(t, err)
	assert.Equal(t, "b\nc\ne\n", string(b))
	b, err = os.ReadFile(filepath.Join(dst, "cycles.txt"))
	require.NoError(t, err)
	assert.Equal(t, "213\n225\n240\n", string(b))
}
