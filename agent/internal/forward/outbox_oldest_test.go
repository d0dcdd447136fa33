package forward

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// An item value shorter than its header, written after the outbox was
// opened and checked, makes oldest skip it instead of panicking the agent
// (the forwarder's peek reports the file as damaged).
func TestOldestSkipsShortItem(t *testing.T) {
	o, err := openOutbox(filepath.Join(t.TempDir(), "outbox.db"), true)
	require.NoError(t, err)
	defer o.close()
	require.NoError(t, o.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).Put(itemKey(prioOther, 1), []byte{1, 2, 3})
	}))
	assert.NotPanics(t, func() { assert.True(t, o.oldest().IsZero()) })
	_, err = o.peek(10, 1<<20, false)
	assert.ErrorIs(t, err, ErrCorrupt)
}
