package buffer

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// filledFile writes a closed buffer file holding 20,000 readings and
// returns its path and one stored block value.
func filledFile(t *testing.T) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	b, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for i := range uint64(20) {
		require.NoError(t, b.Append(ctx, testReadings(i*1000, 1000)))
	}
	var block []byte
	require.NoError(t, b.view(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketBlocks).Cursor().Seek(seqKey(5000))
		block = bytes.Clone(v)
		return nil
	}))
	require.NoError(t, b.Close())
	return path, block
}

// pageOfType returns the id of the first page of the given type.
func pageOfType(t *testing.T, path, typ string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	id := -1
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for i := 2; ; i++ {
			info, err := tx.Page(i)
			if err != nil || info == nil {
				return err
			}
			if info.Type == typ {
				id = i
				return nil
			}
		}
	}))
	require.GreaterOrEqual(t, id, 2, "no %s page", typ)
	return id
}

func TestCorruptFileIsRefused(t *testing.T) {
	const page = 4096
	cases := map[string]func(t *testing.T, path string, block []byte) []byte{
		"not a bbolt file": func(t *testing.T, path string, _ []byte) []byte {
			return []byte("this is a config file, not a buffer\n")
		},
		"both meta pages zeroed": func(t *testing.T, path string, _ []byte) []byte {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			clear(data[:2*page])
			return data
		},
		"truncated": func(t *testing.T, path string, _ []byte) []byte {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			return data[:len(data)/3]
		},
		"flipped byte in a reading": func(t *testing.T, path string, block []byte) []byte {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			at := bytes.Index(data, block[:64])
			require.Positive(t, at, "block found in the file")
			data[at+len(block)/2] ^= 0x40
			return data
		},
		"garbage over a branch page": func(t *testing.T, path string, _ []byte) []byte {
			id := pageOfType(t, path, "branch")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			for i := range page {
				data[id*page+i] = byte(i*7 + 3)
			}
			return data
		},
		"garbage over a leaf page": func(t *testing.T, path string, _ []byte) []byte {
			id := pageOfType(t, path, "leaf")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			for i := 16; i < page; i++ {
				data[id*page+i] = 0xff
			}
			return data
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path, block := filledFile(t)
			data := damage(t, path, block)
			require.NoError(t, os.WriteFile(path, data, 0o600))

			b, err := Open(context.Background(), path, Options{Logger: slog.New(slog.DiscardHandler)})
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Nil(t, b)
			msg := err.Error()
			assert.Contains(t, msg, "mv "+path+" "+path+".corrupt-", "the error names the recovery command")
			assert.Contains(t, msg, "docs/agent.md")
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.True(t, bytes.Equal(data, after), "a damaged file is never modified")

			// Refused again (the lock was released), and the documented
			// recovery works.
			_, err = Open(context.Background(), path, Options{Logger: slog.New(slog.DiscardHandler)})
			require.ErrorIs(t, err, ErrCorrupt)
			require.NoError(t, os.Rename(path, path+".corrupt"))
			b, err = Open(context.Background(), path, Options{Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			assert.Zero(t, b.LastSeq())
			require.NoError(t, b.Close())
		})
	}
}

func TestEmptyFileIsANewBuffer(t *testing.T) {
	// A crash right after creating the file can leave it empty.
	path := filepath.Join(t.TempDir(), "buf.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	b := openTest(t, path, Options{})
	require.NoError(t, b.Append(context.Background(), testReadings(0, 1)))
}

// A damaged newest block (a file opened with SkipCheck) is removed once by
// the caps, like any other: the prune stepped back to it forever before,
// and every Append hung.
func TestPruneDamagedLastBlock(t *testing.T) {
	path, _ := filledFile(t)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		blk := tx.Bucket(bucketBlocks)
		k, v := blk.Cursor().Last()
		return blk.Put(bytes.Clone(k), bytes.Repeat([]byte{0xA5}, len(v)))
	}))
	require.NoError(t, db.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang, not a speed bound
	defer cancel()
	b, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler), SkipCheck: true, MaxAge: time.Millisecond})
	require.NoError(t, err)
	defer b.Close()
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, b.Append(ctx, testReadings(20_000, 10)))
	s := b.Stats()
	assert.LessOrEqual(t, s.Records, uint64(10), "the old blocks, the damaged one included, are removed by age")
	assert.Equal(t, uint64(20_000), s.Dropped.ReleasedByAge+s.Dropped.UnreleasedByAge, "each of the 20,000 readings counted once: %+v", s)
}
