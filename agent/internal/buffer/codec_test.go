package buffer

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestBlockRoundTrip(t *testing.T) {
	var e encoder
	rs := testReadings(1_000_000, 300)
	rs[7].Time = rs[7].Time.Add(-time.Hour) // out of order
	rs[8].Value = math.NaN()
	b := e.appendBlock(nil, 42, rs)
	h, got, err := decodeBlock(b)
	require.NoError(t, err)
	assert.Equal(t, int64(42), h.ingest)
	require.Len(t, got, len(rs))
	for i := range rs {
		assert.True(t, rs[i].Time.Equal(got[i].Time))
		assert.Equal(t, math.Float64bits(rs[i].Value), math.Float64bits(got[i].Value))
		assert.Equal(t, rs[i].Sensor, got[i].Sensor)
		assert.Equal(t, rs[i].Seq, got[i].Seq)
		assert.Equal(t, rs[i].Quality, got[i].Quality)
	}
	assert.Less(t, len(b), 300*18, "about 12-16 bytes a reading")

	buckets, err := blockBuckets(b, nil)
	require.NoError(t, err)
	assert.Contains(t, buckets, timeBucket(rs[7].Time.UnixNano()))
	assert.Contains(t, buckets, timeBucket(rs[0].Time.UnixNano()))

	// Every single-bit flip is caught by the checksum.
	for i := 0; i < len(b); i += 13 {
		c := bytes.Clone(b)
		c[i] ^= 1
		_, _, err := decodeBlock(c)
		require.ErrorIs(t, err, errBlock, "flip at byte %d", i)
	}
}

func TestTimeBucketAndIndexKeyOrder(t *testing.T) {
	assert.Equal(t, int64(-1), timeBucket(-1))
	assert.Equal(t, int64(0), timeBucket(999_999_999))
	assert.Equal(t, int64(-2), timeBucket(-1_000_000_001))
	keys := [][]byte{indexKey(-5, 9), indexKey(-1, 1), indexKey(0, 0), indexKey(0, 3), indexKey(7, 1)}
	for i := 1; i < len(keys); i++ {
		assert.Negative(t, bytes.Compare(keys[i-1], keys[i]), "index keys sort numerically")
	}
	s, f, ok := parseIndexKey(indexKey(-5, 9))
	assert.True(t, ok)
	assert.Equal(t, int64(-5), s)
	assert.Equal(t, uint64(9), f)
}

// FuzzDecodeBlock: decoding arbitrary bytes (a damaged file) returns an
// error or readings, never panics; a valid block re-encodes identically.
func FuzzDecodeBlock(f *testing.F) {
	var e encoder
	f.Add(e.appendBlock(nil, 1, testReadings(0, 3)))
	f.Add(e.appendBlock(nil, -1, []reading.Reading{{Sensor: "x", Time: minTime}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, rs, err := decodeBlock(data)
		if err != nil {
			return
		}
		var e encoder
		again := e.appendBlock(nil, h.ingest, rs)
		if _, rs2, err := decodeBlock(again); err != nil || len(rs2) != len(rs) {
			t.Fatalf("re-encoded block does not decode: %v", err)
		}
	})
}
