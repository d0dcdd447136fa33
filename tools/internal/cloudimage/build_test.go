package cloudimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/testca"
)

// helloDir holds the test binaries, built once per architecture.
var (
	helloDir  string
	helloMu   sync.Mutex
	helloBins = map[string]string{}
)

func TestMain(m *testing.M) {
	var err error
	if helloDir, err = os.MkdirTemp("", "cloudimage-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(helloDir)
	os.Exit(code)
}

// hello returns testdata/hello built static (CGO_ENABLED=0) for
// linux/goarch.
func hello(t testing.TB, goarch string) string {
	t.Helper()
	helloMu.Lock()
	defer helloMu.Unlock()
	if p, ok := helloBins[goarch]; ok {
		return p
	}
	p := filepath.Join(helloDir, "hello-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-o", p, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build testdata/hello for %s: %s", goarch, out)
	helloBins[goarch] = p
	return p
}

// native is the architecture whose binaries this machine runs; foreign
// is another.
func native(t testing.TB) string {
	if runtime.GOOS != "linux" {
		t.Skip("builds and runs linux binaries")
	}
	if _, ok := arches[runtime.GOARCH]; !ok {
		t.Skipf("GOARCH %s has no image", runtime.GOARCH)
	}
	return runtime.GOARCH
}

func foreign(t testing.TB) string {
	if native(t) == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// testCerts writes a PEM bundle of one self-signed certificate.
func testCerts(t testing.TB) string {
	t.Helper()
	return testca.Bundle(t, "cloudimage test CA")
}

var testCreated = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func options(t testing.TB, certs string, bins ...Binary) Options {
	return Options{Binaries: bins, Certs: certs, Tag: "rig-cloud:1.2.3", Version: "1.2.3", Revision: "abc123",
		Source: "https://example.invalid/hydrognn", Licenses: "Apache-2.0", Created: testCreated,
		Out: filepath.Join(t.TempDir(), "image.tar")}
}

// layerFiles reads every entry of img's layers: path -> header and content.
func layerFiles(t testing.TB, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			hdrs[h.Name], data[h.Name] = h, b
		}
		require.NoError(t, rc.Close())
	}
	return hdrs, data
}

// untar extracts the archive into a new folder (an OCI layout).
func untar(t testing.TB, archive string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		require.NoError(t, err)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
}

func TestBuildImage(t *testing.T) {
	arch := native(t)
	certs := testCerts(t)
	o := options(t, certs, Binary{Platform: "linux/" + arch, Path: hello(t, arch)})
	res, err := Build(o)
	require.NoError(t, err)
	assert.Equal(t, "application/vnd.oci.image.manifest.v1+json", res.MediaType)
	require.Len(t, res.Platforms, 1)
	assert.Equal(t, res.Digest, res.Platforms[0].Digest)
	st, err := os.Stat(o.Out)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), res.Bytes)
	_, err = os.Stat(o.Out + ".tmp")
	assert.ErrorIs(t, err, os.ErrNotExist)

	// As docker load reads it: manifest.json.
	tag, err := name.NewTag("rig-cloud:1.2.3")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(o.Out, &tag)
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	wantCerts, err := os.ReadFile(certs)
	require.NoError(t, err)
	certsSum := sha256.Sum256(wantCerts)
	assert.Equal(t, certs, res.CACerts)
	assert.Equal(t, hex.EncodeToString(certsSum[:]), res.CACertsSHA256)
	assert.Equal(t, []string{"/usr/local/bin/rig-cloud"}, cfg.Config.Entrypoint)
	assert.Equal(t, []string{"serve", "--config", "/etc/hydrognn/rig-cloud.yaml"}, cfg.Config.Cmd)
	assert.Equal(t, "65532:65532", cfg.Config.User)
	assert.Equal(t, []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}, cfg.Config.Env)
	assert.Equal(t, map[string]string{
		"org.opencontainers.image.title":       "rig-cloud",
		"org.opencontainers.image.description": "hydrognn rig-cloud (CPU build, CGO_ENABLED=0)",
		"org.opencontainers.image.version":     "1.2.3",
		"org.opencontainers.image.revision":    "abc123",
		"org.opencontainers.image.created":     "2026-11-01T12:00:00Z",
		"org.opencontainers.image.source":      "https://example.invalid/hydrognn",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"io.hydrognn.ca-certificates.sha256":   hex.EncodeToString(certsSum[:]),
	}, cfg.Config.Labels)
	assert.Equal(t, testCreated, cfg.Created.UTC())
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, arch, cfg.Architecture)
	require.Len(t, cfg.History, 2)
	for _, p := range []string{"passwd", "group", "CA bundle", "/tmp", "/etc/hydrognn", "/var/lib/rig-cloud", "/home/nonroot"} {
		assert.Contains(t, cfg.History[0].CreatedBy, p, "the base layer's history names its files")
	}
	for _, h := range cfg.History {
		assert.Equal(t, testCreated, h.Created.UTC())
	}

	hdrs, data := layerFiles(t, img)
	for p, h := range hdrs {
		assert.Equal(t, testCreated, h.ModTime.UTC(), p)
	}
	assert.Equal(t, wantCerts, data["etc/ssl/certs/ca-certificates.crt"])
	assert.Contains(t, string(data["etc/passwd"]), "nonroot:x:65532:65532:")
	assert.Contains(t, string(data["etc/group"]), "nonroot:x:65532:")
	require.Contains(t, hdrs, "tmp/")
	assert.Equal(t, byte(tar.TypeDir), hdrs["tmp/"].Typeflag)
	assert.Equal(t, int64(0o1777), hdrs["tmp/"].Mode)
	// Owners and modes: the config folder is root's (rig-cloud cannot
	// change its config), the blob store and the home are 65532's.
	for p, want := range map[string]struct {
		uid, gid int
		mode     int64
	}{
		"etc/":               {0, 0, 0o755},
		"etc/hydrognn/":      {0, 0, 0o755},
		"etc/ssl/certs/":     {0, 0, 0o755},
		"var/lib/rig-cloud/": {65532, 65532, 0o755},
		"home/nonroot/":      {65532, 65532, 0o700},
		"tmp/":               {0, 0, 0o1777},
	} {
		require.Contains(t, hdrs, p)
		assert.Equal(t, want.uid, hdrs[p].Uid, "%s uid", p)
		assert.Equal(t, want.gid, hdrs[p].Gid, "%s gid", p)
		assert.Equal(t, want.mode, hdrs[p].Mode, "%s mode", p)
		assert.Equal(t, byte(tar.TypeDir), hdrs[p].Typeflag, p)
	}
	for _, p := range []string{"etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt"} {
		assert.Equal(t, 0, hdrs[p].Uid, p)
		assert.Equal(t, int64(0o644), hdrs[p].Mode, p)
	}
	require.Contains(t, hdrs, "usr/local/bin/rig-cloud")
	assert.Equal(t, int64(0o755), hdrs["usr/local/bin/rig-cloud"].Mode)
	assert.Equal(t, 0, hdrs["usr/local/bin/rig-cloud"].Uid)

	// The binary is intact: it runs.
	bin := filepath.Join(t.TempDir(), "rig-cloud")
	require.NoError(t, os.WriteFile(bin, data["usr/local/bin/rig-cloud"], 0o755))
	out, err := exec.Command(bin, "serve").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "hello from the image serve\n", string(out))

	// As OCI tools read it: the layout, whose index.json names the image.
	l, err := layout.ImageIndexFromPath(untar(t, o.Out))
	require.NoError(t, err)
	im, err := l.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1)
	d := im.Manifests[0]
	assert.Equal(t, res.Digest, d.Digest.String())
	assert.Equal(t, "1.2.3", d.Annotations["org.opencontainers.image.ref.name"])
	assert.Equal(t, "docker.io/library/rig-cloud:1.2.3", d.Annotations["io.containerd.image.name"],
		"containerd looks images up by the normalized name")
	oci, err := l.Image(d.Digest)
	require.NoError(t, err)
	cn1, err := oci.ConfigName()
	require.NoError(t, err)
	cn2, err := img.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, cn1, cn2, "manifest.json and the layout name the same config")
	m, err := oci.Manifest()
	require.NoError(t, err)
	require.Len(t, m.Layers, 2)
	for _, ld := range m.Layers {
		assert.Equal(t, "application/vnd.oci.image.layer.v1.tar+gzip", string(ld.MediaType))
	}
}

// TestBuildContainerdName: index.json's io.containerd.image.name is the
// normalized reference, the name containerd (Docker's containerd image
// store, nerdctl, the kubelet) looks the image up by; ref.name is the tag.
func TestBuildContainerdName(t *testing.T) {
	arch := native(t)
	certs := testCerts(t)
	for _, tc := range []struct{ tag, name, ref string }{
		{"rig-cloud:1.4.0", "docker.io/library/rig-cloud:1.4.0", "1.4.0"},
		{"hydrognn/rig-cloud:1.4.0", "docker.io/hydrognn/rig-cloud:1.4.0", "1.4.0"},
		{"localhost:5000/rc:x", "localhost:5000/rc:x", "x"},
		{"ghcr.io/hydrognn/rig-cloud:1.4.0-rc.1", "ghcr.io/hydrognn/rig-cloud:1.4.0-rc.1", "1.4.0-rc.1"},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			o := options(t, certs, Binary{Platform: "linux/" + arch, Path: hello(t, arch)})
			o.Tag = tc.tag
			_, err := Build(o)
			require.NoError(t, err)
			var idx v1.IndexManifest
			require.NoError(t, json.Unmarshal(readEntry(t, o.Out, "index.json"), &idx))
			require.Len(t, idx.Manifests, 1)
			assert.Equal(t, tc.name, idx.Manifests[0].Annotations["io.containerd.image.name"])
			assert.Equal(t, tc.ref, idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
		})
	}
}

func fileSHA(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// TestBuildReproducible: the same inputs give the same bytes; another
// creation time, or another CA bundle (the build host's is one of the
// inputs), gives another digest, and the label says which bundle.
func TestBuildReproducible(t *testing.T) {
	arch := native(t)
	certs := testCerts(t)
	bin := Binary{Platform: "linux/" + arch, Path: hello(t, arch)}
	a, b := options(t, certs, bin), options(t, certs, bin)
	ra, err := Build(a)
	require.NoError(t, err)
	rb, err := Build(b)
	require.NoError(t, err)
	assert.Equal(t, ra.Digest, rb.Digest)
	assert.Equal(t, fileSHA(t, a.Out), fileSHA(t, b.Out))

	c := options(t, certs, bin)
	c.Created = testCreated.Add(time.Second)
	rc, err := Build(c)
	require.NoError(t, err)
	assert.NotEqual(t, ra.Digest, rc.Digest)

	d := options(t, testCerts(t), bin)
	rd, err := Build(d)
	require.NoError(t, err)
	assert.NotEqual(t, ra.Digest, rd.Digest)
	assert.NotEqual(t, ra.CACertsSHA256, rd.CACertsSHA256)
}

func TestBuildIndex(t *testing.T) {
	nat, other := native(t), foreign(t)
	o := options(t, testCerts(t),
		Binary{Platform: "linux/" + nat, Path: hello(t, nat)},
		Binary{Platform: "linux/" + other, Path: hello(t, other)})
	res, err := Build(o)
	require.NoError(t, err)
	assert.Equal(t, "application/vnd.oci.image.index.v1+json", res.MediaType)
	require.Len(t, res.Platforms, 2)

	l, err := layout.ImageIndexFromPath(untar(t, o.Out))
	require.NoError(t, err)
	top, err := l.IndexManifest()
	require.NoError(t, err)
	require.Len(t, top.Manifests, 1)
	assert.Equal(t, res.Digest, top.Manifests[0].Digest.String())
	idx, err := l.ImageIndex(top.Manifests[0].Digest)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	for i, arch := range []string{nat, other} {
		d := im.Manifests[i]
		require.NotNil(t, d.Platform)
		assert.Equal(t, v1.Platform{OS: "linux", Architecture: arch}, *d.Platform)
		assert.Equal(t, res.Platforms[i].Digest, d.Digest.String())
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, arch, cfg.Architecture)
		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, layers, 2)
		_, data := layerFiles(t, img)
		want, err := os.ReadFile(hello(t, arch))
		require.NoError(t, err)
		assert.Equal(t, want, data["usr/local/bin/rig-cloud"], arch)
	}
	// The base layer is shared.
	i0, err := idx.Image(im.Manifests[0].Digest)
	require.NoError(t, err)
	i1, err := idx.Image(im.Manifests[1].Digest)
	require.NoError(t, err)
	m0, err := i0.Manifest()
	require.NoError(t, err)
	m1, err := i1.Manifest()
	require.NoError(t, err)
	assert.Equal(t, m0.Layers[0].Digest, m1.Layers[0].Digest)
	assert.NotEqual(t, m0.Layers[1].Digest, m1.Layers[1].Digest)

	// docker load gets one image per platform, tagged NAME:TAG-ARCH.
	raw := readEntry(t, o.Out, "manifest.json")
	var dm []dockerManifest
	require.NoError(t, json.Unmarshal(raw, &dm))
	require.Len(t, dm, 2)
	assert.Equal(t, []string{"rig-cloud:1.2.3-" + nat}, dm[0].RepoTags)
	assert.Equal(t, []string{"rig-cloud:1.2.3-" + other}, dm[1].RepoTags)
	tag, err := name.NewTag("rig-cloud:1.2.3-" + other)
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(o.Out, &tag)
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, other, cfg.Architecture)
}

func readEntry(t testing.TB, archive, entry string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "%s in %s", entry, archive)
		if h.Name == entry {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			return b
		}
	}
}

// dynamicBinary is a dynamically linked executable of this machine: the
// system's true(1).
func dynamicBinary(t testing.TB) string {
	p, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to use as a dynamic binary")
	}
	p, err = filepath.EvalSymlinks(p)
	require.NoError(t, err)
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	if err := CheckBinary(f, p, runtime.GOARCH); !errors.Is(err, ErrNotStatic) {
		t.Skipf("%s is not a dynamic executable of %s (%v)", p, runtime.GOARCH, err)
	}
	return p
}

func TestBuildRefuses(t *testing.T) {
	nat, other := native(t), foreign(t)
	certs := testCerts(t)
	text := filepath.Join(t.TempDir(), "script.sh")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755))
	noPEM := filepath.Join(t.TempDir(), "empty.crt")
	require.NoError(t, os.WriteFile(noPEM, []byte("nothing here\n"), 0o644))
	for _, tc := range []struct {
		name   string
		edit   func(*Options)
		is     error
		substr string
	}{
		{"dynamic", func(o *Options) { o.Binaries[0].Path = dynamicBinary(t) }, ErrNotStatic, "needs the program interpreter"},
		{"wrong arch", func(o *Options) { o.Binaries[0].Path = hello(t, other) }, ErrWrongPlatform,
			"an ELF file for " + other + " (ELFCLASS64, little-endian), not an executable of the platform linux/" + nat},
		{"not ELF", func(o *Options) { o.Binaries[0].Path = text }, ErrWrongPlatform, "not an ELF executable"},
		{"missing binary", func(o *Options) { o.Binaries[0].Path = filepath.Join(t.TempDir(), "nope") }, os.ErrNotExist, "binary for linux/" + nat},
		{"certs without PEM", func(o *Options) { o.Certs = noPEM }, nil, "no PEM certificate in it"},
		{"missing certs", func(o *Options) { o.Certs = noPEM + ".nope" }, os.ErrNotExist,
			"no such file or directory; pass the host's PEM bundle with --ca-certs FILE (Fedora/RHEL: --ca-certs /etc/pki/tls/certs/ca-bundle.crt; make image: IMAGE_CA_CERTS=FILE)"},
		{"no certs", func(o *Options) { o.Certs = "" }, nil, "no CA bundle: name the host's PEM bundle (--ca-certs FILE)"},
		{"second platform wrong", func(o *Options) {
			o.Binaries = append(o.Binaries, Binary{Platform: "linux/" + other, Path: hello(t, nat)})
		}, ErrWrongPlatform, "not an executable of the platform linux/" + other},
		{"platform twice", func(o *Options) { o.Binaries = append(o.Binaries, o.Binaries[0]) }, nil, "given twice"},
		{"windows", func(o *Options) { o.Binaries[0].Platform = "windows/amd64" }, nil, `platform "windows/amd64": want linux/ARCH`},
		{"unknown arch", func(o *Options) { o.Binaries[0].Platform = "linux/mips" }, nil, `architecture "mips" is not one of amd64, arm64`},
		{"bad tag", func(o *Options) { o.Tag = "Rig Cloud" }, nil, `tag "Rig Cloud": want NAME:TAG`},
		{"no tag", func(o *Options) { o.Tag = "localhost:5000/rig-cloud" }, nil, `tag "localhost:5000/rig-cloud": want NAME:TAG, with the TAG`},
		{"no time", func(o *Options) { o.Created = time.Time{} }, nil, "set SOURCE_DATE_EPOCH"},
		{"no version", func(o *Options) { o.Version = "" }, nil, "no version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t, certs, Binary{Platform: "linux/" + nat, Path: hello(t, nat)})
			tc.edit(&o)
			_, err := Build(o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.substr)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			entries, err := os.ReadDir(filepath.Dir(o.Out))
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
		})
	}
}

func TestArches(t *testing.T) {
	assert.Equal(t, []string{"amd64", "arm64", "ppc64le", "riscv64", "s390x"}, Arches())
	for _, tc := range []struct {
		m     elf.Machine
		c     elf.Class
		order string
		want  string
	}{
		{elf.EM_X86_64, elf.ELFCLASS64, "little", "amd64"},
		{elf.EM_PPC64, elf.ELFCLASS64, "little", "ppc64le"},
		{elf.EM_PPC64, elf.ELFCLASS64, "big", "PPC64"},
		{elf.EM_S390, elf.ELFCLASS64, "big", "s390x"},
		{elf.EM_386, elf.ELFCLASS32, "little", "386"},
	} {
		assert.Equal(t, tc.want, archOf(tc.m, tc.c, tc.order), "%s %s %s", tc.m, tc.c, tc.order)
	}
}

func TestParseBinary(t *testing.T) {
	b, err := ParseBinary("linux/arm64=dist/rig-cloud-arm64")
	require.NoError(t, err)
	assert.Equal(t, Binary{Platform: "linux/arm64", Path: "dist/rig-cloud-arm64"}, b)
	for in, want := range map[string]string{
		"bin/rig-cloud":        "want PLATFORM=PATH",
		"linux/amd64=":         "want PLATFORM=PATH",
		"amd64=bin/rig-cloud":  `platform "amd64": want linux/ARCH`,
		"linux/386=bin/x":      `architecture "386" is not one of`,
		"darwin/arm64=bin/x":   `platform "darwin/arm64"`,
		"linux/arm64/v8=bin/x": `architecture "arm64/v8"`,
	} {
		_, err := ParseBinary(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
}

func FuzzParseBinary(f *testing.F) {
	for _, s := range []string{"linux/amd64=bin/rig-cloud", "linux/arm64=", "=", "linux/=x", "linux/amd64=a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBinary(s)
		if err != nil {
			return
		}
		if b.Path == "" || !strings.HasPrefix(b.Platform, "linux/") || b.Platform+"="+b.Path != s {
			t.Fatalf("ParseBinary(%q) = %+v", s, b)
		}
	})
}

// elfHeaders builds a small ELF64 little-endian file of the machine: the
// file header and one program header per type in progs, with no section
// headers (e_shnum 0), which debug/elf parses whole. PT_INTERP points at
// the string /lib64/ld-linux-x86-64.so.2 after the headers.
func elfHeaders(typ elf.Type, machine elf.Machine, progs ...elf.ProgType) []byte {
	const ehsize, phsize = 64, 56
	interp := []byte("/lib64/ld-linux-x86-64.so.2\x00")
	dataOff := uint64(ehsize + phsize*len(progs))
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE)})
	b.Write(make([]byte, 8))                                     // rest of e_ident
	binary.Write(&b, le, uint16(typ))                            // e_type
	binary.Write(&b, le, uint16(machine))                        // e_machine
	binary.Write(&b, le, uint32(elf.EV_CURRENT))                 // e_version
	binary.Write(&b, le, uint64(0x401000))                       // e_entry
	binary.Write(&b, le, uint64(ehsize))                         // e_phoff
	binary.Write(&b, le, uint64(0))                              // e_shoff
	binary.Write(&b, le, uint32(0))                              // e_flags
	binary.Write(&b, le, uint16(ehsize))                         // e_ehsize
	binary.Write(&b, le, uint16(phsize))                         // e_phentsize
	binary.Write(&b, le, uint16(len(progs)))                     // e_phnum
	binary.Write(&b, le, [3]uint16{0, 0, uint16(elf.SHN_UNDEF)}) // e_shentsize, e_shnum, e_shstrndx
	for _, pt := range progs {
		off, size := uint64(0), dataOff+uint64(len(interp))
		if pt == elf.PT_INTERP || pt == elf.PT_DYNAMIC {
			off, size = dataOff, uint64(len(interp))
		}
		binary.Write(&b, le, uint32(pt))                // p_type
		binary.Write(&b, le, uint32(elf.PF_R|elf.PF_X)) // p_flags
		binary.Write(&b, le, [6]uint64{off, 0x400000 + off, 0x400000 + off, size, size, 0x1000})
	}
	b.Write(interp)
	return b.Bytes()
}

// TestCheckBinaryHeaders: hand-built headers (the fuzz seeds) reach each
// answer of CheckBinary, not only "not an ELF executable".
func TestCheckBinaryHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		is      error
		substr  string
		machine elf.Machine
	}{
		{"static", elfHeaders(elf.ET_EXEC, elf.EM_X86_64, elf.PT_LOAD), nil, "", elf.EM_X86_64},
		{"interp", elfHeaders(elf.ET_EXEC, elf.EM_X86_64, elf.PT_LOAD, elf.PT_INTERP), ErrNotStatic,
			"needs the program interpreter /lib64/ld-linux-x86-64.so.2", elf.EM_X86_64},
		{"dynamic", elfHeaders(elf.ET_EXEC, elf.EM_X86_64, elf.PT_LOAD, elf.PT_DYNAMIC), ErrNotStatic,
			"has a dynamic section (PT_DYNAMIC)", elf.EM_X86_64},
		{"pie without dynamic", elfHeaders(elf.ET_DYN, elf.EM_X86_64, elf.PT_LOAD), ErrWrongPlatform,
			"ELF type ET_DYN without a dynamic section", elf.EM_X86_64},
		{"arm64", elfHeaders(elf.ET_EXEC, elf.EM_AARCH64, elf.PT_LOAD), ErrWrongPlatform,
			"an ELF file for arm64 (ELFCLASS64, little-endian)", elf.EM_AARCH64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := elf.NewFile(bytes.NewReader(tc.data))
			require.NoError(t, err, "debug/elf parses the headers")
			assert.Equal(t, tc.machine, f.Machine)
			err = CheckBinary(bytes.NewReader(tc.data), "seed", "amd64")
			if tc.is == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.substr)
		})
	}
}

// FuzzCheckBinary: any bytes give an answer, never a panic; only a static
// executable of the architecture passes: when CheckBinary says yes, the
// file parses as an x86-64 ELF file with no PT_INTERP or PT_DYNAMIC.
func FuzzCheckBinary(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte("#!/bin/sh\n"))
	// Headers that parse (a prefix of a real binary does not: its section
	// headers are at the end), one per answer.
	f.Add(elfHeaders(elf.ET_EXEC, elf.EM_X86_64, elf.PT_LOAD))
	f.Add(elfHeaders(elf.ET_EXEC, elf.EM_X86_64, elf.PT_LOAD, elf.PT_INTERP))
	f.Add(elfHeaders(elf.ET_EXEC, elf.EM_X86_64, elf.PT_LOAD, elf.PT_DYNAMIC))
	f.Add(elfHeaders(elf.ET_DYN, elf.EM_X86_64, elf.PT_LOAD))
	f.Add(elfHeaders(elf.ET_EXEC, elf.EM_AARCH64, elf.PT_LOAD))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckBinary(bytes.NewReader(data), "fuzz", "amd64")
		if err != nil {
			if !errors.Is(err, ErrNotStatic) && !errors.Is(err, ErrWrongPlatform) {
				t.Fatalf("CheckBinary: %v is neither ErrNotStatic nor ErrWrongPlatform", err)
			}
			return
		}
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("CheckBinary passed a file debug/elf refuses: %v", err)
		}
		if ef.Machine != elf.EM_X86_64 || ef.Class != elf.ELFCLASS64 || ef.Data != elf.ELFDATA2LSB {
			t.Fatalf("CheckBinary passed %s %s %s for amd64", ef.Machine, ef.Class, ef.Data)
		}
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Fatalf("CheckBinary passed a file with %s", p.Type)
			}
		}
	})
}
