package cloudapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// An upload part's fingerprint is its content: the same instants written
// with another offset are the same part; another value, reading or Last
// flag is another part. It does not change the part it is computed on.
func TestUploadFingerprint(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	part := func() *Upload {
		return &Upload{AgentID: "rig-001", RequestID: "up-1", Part: 3,
			Readings: []reading.Reading{{Sensor: "PS1", Time: t0, Value: 150, Seq: 1}, {Sensor: "PS1", Time: t0.Add(time.Second), Value: 151, Seq: 2}}}
	}
	fp := func(u *Upload) [32]byte {
		t.Helper()
		sum, err := UploadFingerprint(u)
		require.NoError(t, err)
		return sum
	}
	want := fp(part())
	zoned := part()
	for i := range zoned.Readings {
		zoned.Readings[i].Time = zoned.Readings[i].Time.In(time.FixedZone("CEST", 2*3600))
	}
	assert.Equal(t, want, fp(zoned))
	assert.Equal(t, time.FixedZone("CEST", 2*3600).String(), zoned.Readings[0].Time.Location().String(), "the part is left as it was")

	for name, change := range map[string]func(u *Upload){
		"value":   func(u *Upload) { u.Readings[1].Value = 151.5 },
		"fewer":   func(u *Upload) { u.Readings = u.Readings[:1] },
		"time":    func(u *Upload) { u.Readings[0].Time = t0.Add(time.Nanosecond) },
		"last":    func(u *Upload) { u.Last = true },
		"quality": func(u *Upload) { u.Readings[0].Quality = reading.Quality(1) },
	} {
		u := part()
		change(u)
		assert.NotEqual(t, want, fp(u), name)
	}
}
