package rigctl

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/cloudimage"
	"github.com/hydrognn/hydrognn/tools/internal/testca"
)

// staticHello builds cloudimage's test program static for this machine.
func staticHello(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("builds a linux/amd64 or linux/arm64 image")
	}
	p := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", p, "../cloudimage/testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return p
}

func TestReleaseImage(t *testing.T) {
	bin, ca := staticHello(t), testca.Bundle(t, "rigctl test CA")
	out := filepath.Join(t.TempDir(), "rig-cloud-image.tar")
	t.Setenv("SOURCE_DATE_EPOCH", "1790000000")
	plat := "linux/" + runtime.GOARCH
	code, stdout, errOut := run(t, "release", "image", "--binary", plat+"="+bin, "--version", "1.4.0",
		"--revision", "0123abc", "--ca-certs", ca, "--out", out, "--json")
	require.Equal(t, ExitOK, code, errOut)
	var res cloudimage.Result
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	assert.Equal(t, "rig-cloud:1.4.0", res.Tag)
	assert.Equal(t, out, res.Out)
	caPEM, err := os.ReadFile(ca)
	require.NoError(t, err)
	caSum := sha256.Sum256(caPEM)
	assert.Equal(t, hex.EncodeToString(caSum[:]), res.CACertsSHA256)
	require.Len(t, res.Platforms, 1)
	assert.Equal(t, plat, res.Platforms[0].Platform)

	tag, err := name.NewTag("rig-cloud:1.4.0")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(out, &tag)
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, time.Unix(1790000000, 0).UTC(), cfg.Created.UTC())
	assert.Equal(t, "0123abc", cfg.Config.Labels["org.opencontainers.image.revision"])
	assert.Equal(t, "https://github.com/hydrognn/hydrognn", cfg.Config.Labels["org.opencontainers.image.source"])
	assert.Equal(t, "Apache-2.0", cfg.Config.Labels["org.opencontainers.image.licenses"])
	assert.Equal(t, res.CACertsSHA256, cfg.Config.Labels["io.hydrognn.ca-certificates.sha256"])

	// The same command again: the same digest, said in words this time.
	code, stdout, errOut = run(t, "release", "image", "--binary", plat+"="+bin, "--version", "1.4.0",
		"--revision", "0123abc", "--ca-certs", ca, "--out", out)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, stdout, "wrote "+out+": rig-cloud:1.4.0 image "+res.Digest+", ")
	assert.Contains(t, stdout, "  "+plat+" "+res.Digest+" ("+bin+")")
	assert.Contains(t, stdout, "  CA bundle sha256:"+res.CACertsSHA256+" ("+ca+")")

	// --created wins over SOURCE_DATE_EPOCH.
	code, stdout, errOut = run(t, "release", "image", "--binary", plat+"="+bin, "--version", "1.4.0",
		"--revision", "0123abc", "--ca-certs", ca, "--out", out, "--created", "2026-01-02T03:04:05Z", "--tag", "localhost:5000/rc:x")
	require.Equal(t, ExitOK, code, errOut)
	assert.NotContains(t, stdout, res.Digest)
	assert.Contains(t, stdout, "localhost:5000/rc:x image sha256:")
}

func TestReleaseImageUsage(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1790000000")
	ca := testca.Bundle(t, "rigctl test CA")
	base := []string{"release", "image", "--binary", "linux/amd64=bin/rig-cloud", "--version", "1", "--out", "x.tar", "--ca-certs", ca}
	for _, tc := range []struct {
		name  string
		args  []string
		epoch string
		code  int
		want  string
	}{
		{"no flags", []string{"release", "image"}, "1", ExitUsage, "--binary PLATFORM=PATH, --version V and --out FILE are required"},
		{"no out", base[:6], "1", ExitUsage, "are required"},
		{"extra argument", append(base[:len(base):len(base)], "more"), "1", ExitUsage, "no other arguments"},
		{"bad binary", []string{"release", "image", "--binary", "bin/rig-cloud"}, "1", ExitUsage, `binary "bin/rig-cloud": want PLATFORM=PATH`},
		{"bad platform", []string{"release", "image", "--binary", "linux/386=x"}, "1", ExitUsage, `architecture "386" is not one of amd64, arm64`},
		{"no epoch", base, "", ExitUsage, "set SOURCE_DATE_EPOCH (e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)) or --created"},
		{"bad epoch", base, "yesterday", ExitUsage, `creation time "yesterday": want seconds since 1970`},
		{"bad created", append(base[:len(base):len(base)], "--created", "-5"), "1", ExitUsage, `creation time "-5": want seconds after 1970`},
		{"twice", append(base[:len(base):len(base)], "--binary", "linux/amd64=y"), "1", ExitUsage, "platform linux/amd64 given twice"},
		{"bad tag", append(base[:len(base):len(base)], "--tag", "rig-cloud"), "1", ExitUsage, `tag "rig-cloud": want NAME:TAG, with the TAG`},
		{"missing binary", base, "1", ExitFailure, "release image: binary for linux/amd64: open bin/rig-cloud"},
		{"missing CA bundle", append(base[:len(base):len(base)], "--ca-certs", "/nonexistent/ca-certificates.crt"), "1", ExitFailure,
			"release image: CA bundle: open /nonexistent/ca-certificates.crt: no such file or directory; pass the host's PEM bundle with --ca-certs FILE (Fedora/RHEL: --ca-certs /etc/pki/tls/certs/ca-bundle.crt"},
		{"help", []string{"release", "image", "-h"}, "1", ExitOK, "Usage: rigctl release image --binary linux/ARCH=PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
			t.Chdir(t.TempDir())
			code, _, errOut := run(t, tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.want)
			_, err := os.Stat("x.tar")
			assert.ErrorIs(t, err, os.ErrNotExist)
		})
	}
	code, _, errOut := run(t, "release")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "rigctl release image --binary linux/ARCH=PATH")
}
