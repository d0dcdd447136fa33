package forward

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

const testFirmwareDigest = "sha256:5be1a0c3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f"

// Every check-in reports the firmware config's digest; a cloud older than
// the field refuses it as unknown, and the agent checks in again without
// it, leaving it out for firmwareDigestRetry, then tries it again. A
// cloud older than both optional fields refuses them one after the other.
func TestCheckinFirmwareDigest(t *testing.T) {
	clock := newManualClock(t0)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.FirmwareDigest = testFirmwareDigest })
	stop := run(t, f)
	checkins := func(c *fakeCloud) (n, requests int, last *cloudapi.CheckinRequest) {
		c.get(func(c *fakeCloud) { n, requests, last = c.checkins, len(c.requests), c.lastIn })
		return n, requests, last
	}
	eventually(t, "a check-in", func() bool { n, _, _ := checkins(c); return n >= 1 })
	_, _, last := checkins(c)
	assert.Equal(t, testFirmwareDigest, last.FirmwareDigest)
	stop()

	// A cloud older than firmware_digest (it knows bundle_formats).
	c2 := newCloud(t, clock)
	c2.set(func(c *fakeCloud) { c.preFirmware = true })
	f2 := newForwarder(t, c2, "", func(o *Options) { o.FirmwareDigest = testFirmwareDigest })
	stop = run(t, f2)
	eventually(t, "a check-in without the field", func() bool { n, _, _ := checkins(c2); return n >= 1 })
	n, requests, last := checkins(c2)
	assert.Empty(t, last.FirmwareDigest)
	assert.NotNil(t, last.BundleFormats, "only the refused field is left out")
	assert.Equal(t, 2, requests, "refused with the field, accepted without")
	eventually(t, "the link up", func() bool { return f2.Stats().Link == LinkUp })
	assert.Equal(t, uint64(0), f2.Stats().Failures, "the refusal is no failure")
	assert.Equal(t, uint64(0), f2.Stats().CheckinsRefused)

	// Within firmwareDigestRetry: one request per check-in, without it.
	f2.CheckinSoon()
	eventually(t, "a second check-in", func() bool { m, _, _ := checkins(c2); return m > n })
	n, r2, last := checkins(c2)
	assert.Empty(t, last.FirmwareDigest)
	assert.Equal(t, requests+1, r2)

	// After it, the field is tried again (the cloud upgraded meanwhile).
	c2.set(func(c *fakeCloud) { c.preFirmware = false })
	clock.Advance(firmwareDigestRetry)
	f2.CheckinSoon()
	eventually(t, "a check-in with the field", func() bool { m, _, _ := checkins(c2); return m > n })
	_, _, last = checkins(c2)
	assert.Equal(t, testFirmwareDigest, last.FirmwareDigest)
	stop()

	// A cloud older than both fields: three requests, the third accepted.
	c3 := newCloud(t, clock)
	c3.set(func(c *fakeCloud) { c.preFormats, c.preFirmware = true, true })
	f3 := newForwarder(t, c3, "", func(o *Options) { o.FirmwareDigest = testFirmwareDigest })
	stop = run(t, f3)
	defer stop()
	eventually(t, "a check-in without both fields", func() bool { n, _, _ := checkins(c3); return n >= 1 })
	_, requests, last = checkins(c3)
	assert.Empty(t, last.FirmwareDigest)
	assert.Nil(t, last.BundleFormats)
	assert.Equal(t, 3, requests)
	eventually(t, "the link up", func() bool { return f3.Stats().Link == LinkUp })
}

// A digest the cloud would refuse is left out of the check-in, not the
// whole check-in refused; FromConfig takes the firmware config's digest.
func TestCheckinFirmwareDigestFit(t *testing.T) {
	clock := newManualClock(t0)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.FirmwareDigest = "not a digest" })
	stop := run(t, f)
	defer stop()
	var last *cloudapi.CheckinRequest
	eventually(t, "a check-in", func() bool {
		c.get(func(c *fakeCloud) { last = c.lastIn })
		return last != nil
	})
	assert.Empty(t, last.FirmwareDigest)
	assert.Equal(t, uint64(0), f.Stats().CheckinsRefused)
}

func TestFromConfigFirmwareDigest(t *testing.T) {
	fw, err := rig.Load("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Agent.ID, cfg.Agent.DataDir = "rig-001", dir
	cfg.Cloud.URL, cfg.Cloud.CredentialFile = "https://cloud.example.com/", filepath.Join(dir, "cred")
	cfg.Firmware = fw
	o, err := FromConfig(&cfg, nil, "test", nil)
	require.NoError(t, err)
	require.True(t, cloudapi.ValidDigest(o.FirmwareDigest), o.FirmwareDigest)
	assert.Equal(t, fw.Digest(), o.FirmwareDigest)
	assert.Equal(t, fw.Equipment.ID, o.RigID)

	// Without a firmware config (a cloud-only test config): none reported.
	cfg.Firmware = nil
	o, err = FromConfig(&cfg, nil, "test", nil)
	require.NoError(t, err)
	assert.Empty(t, o.FirmwareDigest)
}
