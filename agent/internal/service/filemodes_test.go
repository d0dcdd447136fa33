package service

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every file and folder the agent creates in agent.data_dir is its
// own only (0600 and 0700), whatever the umask: outside the unit
// (UMask=0077), in a container or under a hand-written unit, the outbox
// (diagnoses, the agent id) was group-readable (review r3 finding 11).
func TestDataDirModesPrivate(t *testing.T) {
	needORT(t)
	old := syscall.Umask(0) // the modes the agent asks for, unmasked
	t.Cleanup(func() { syscall.Umask(old) })

	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "modes-1", "")
	cred := filepath.Join(dir, "credential")
	require.NoError(t, os.WriteFile(cred, []byte("token\n"), 0o600))
	appendConfig(t, cfgPath, fmt.Sprintf("cloud:\n  url: http://127.0.0.1:9\n  credential_file: %s\n", cred))
	a := startAgent(t, cfgPath)
	stopAgent(t, a)

	data := filepath.Join(dir, "data")
	n := 0
	require.NoError(t, filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		assert.Zero(t, fi.Mode().Perm()&0o077, "%s has mode %s", path, fi.Mode())
		return nil
	}))
	for _, f := range []string{"buffer.db", "diagnoses.db", "outbox.db"} {
		assert.FileExists(t, filepath.Join(data, f))
	}
	t.Logf("%d entries checked", n)
}
