package rollout

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

func TestUnfit(t *testing.T) {
	fwA, fwB := "sha256:"+strings.Repeat("a1", 32), "sha256:"+strings.Repeat("b2", 32)
	rel := rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 2, ConfigDigest: fwA}
	reads12 := cloudapi.BundleFormats{Min: 1, Max: 2}
	for _, c := range []struct {
		name     string
		formats  cloudapi.BundleFormats
		firmware string
		rel      rolloutapi.Release
		want     string
	}{
		{"same firmware", reads12, fwA, rel, ""},
		{"no firmware reported", reads12, "", rel, ""},
		{"other firmware", reads12, fwB, rel, "agent runs firmware config " + fwB + ", release is for " + fwA},
		{"release without a digest", reads12, fwB, rolloutapi.Release{Version: "1.1.0", BundleFormat: 2}, ""},
		{"format first", cloudapi.LegacyBundleFormats, fwB, rel, "agent reads bundle formats 1..1, release is format 2"},
	} {
		assert.Equal(t, c.want, Unfit(c.formats, c.firmware, c.rel), c.name)
	}
}
