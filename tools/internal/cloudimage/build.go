package cloudimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image.
const (
	BinaryPath  = "/usr/local/bin/rig-cloud"
	CertsPath   = "/etc/ssl/certs/ca-certificates.crt"
	ConfigPath  = "/etc/hydrognn/rig-cloud.yaml"
	UID         = 65532
	GID         = 65532
	HTTPPort    = 8080 // the API's listen port, exposed; deploy/k8s names it http
	DefaultTag  = "rig-cloud"
	passwdLines = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	groupLines  = "root:x:0:\nnonroot:x:65532:\n"
)

// Limits on the inputs Build reads whole into memory.
const (
	MaxBinaryBytes = 512 << 20 // a rig-cloud binary is about 40 MiB
	MaxCertsBytes  = 8 << 20   // Debian's bundle is about 220 KiB
)

// CACertsLabel is the label holding the sha256 (hex) of the CA bundle
// copied to CertsPath: the bundle comes from the build host, so two
// builds give the same digest only with the same bundle, and the label says
// which one an image carries.
const CACertsLabel = "io.hydrognn.ca-certificates.sha256"

// FedoraCerts is where Fedora, RHEL and their kin keep the CA bundle that
// Debian keeps at CertsPath.
const FedoraCerts = "/etc/pki/tls/certs/ca-bundle.crt"

// DefaultCmd is the image's default command (after the entrypoint
// BinaryPath): the API, with the config where deploy/k8s mounts it.
var DefaultCmd = []string{"serve", "--config", ConfigPath}

// Env is the image's environment.
var Env = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"SSL_CERT_FILE=" + CertsPath,
}

// Binary is one platform's rig-cloud.
type Binary struct {
	// Platform is "linux/ARCH" with ARCH one of Arches.
	Platform string
	// Path is the static ELF executable.
	Path string
}

// Options say what Build makes. Every field without a stated default is
// required.
type Options struct {
	// Binaries are the platforms of the image, in the order of the index
	// (one: a single image, no index). Each platform appears once.
	Binaries []Binary
	// Certs is the CA bundle (PEM) copied to CertsPath; it must hold at
	// least one certificate. Every CA in it ships in the image (a local CA
	// added to the build host's bundle too), and its sha256 is the label
	// CACertsLabel.
	Certs string
	// Tag is the image's name in the archive (NAME:TAG): index.json names
	// the image, or the index of several, NAME:TAG (ref.name the TAG,
	// io.containerd.image.name the normalized reference), and
	// manifest.json tags each image NAME:TAG with one platform,
	// NAME:TAG-ARCH with several. Expected from Docker's documented
	// behaviour, not run here: classic docker load reads manifest.json
	// (the -ARCH tags exist only there); Docker's containerd image store,
	// nerdctl and ctr read index.json (one multi-platform NAME:TAG).
	// podman load (run by TestEnginesLoad where installed) imports the
	// host's platform under io.containerd.image.name:
	// docker.io/library/rig-cloud:TAG for rig-cloud:TAG.
	Tag string
	// Version, Revision, Source and Licenses are the OCI labels
	// org.opencontainers.image.version, .revision, .source and .licenses;
	// Revision, Source and Licenses are left out when empty.
	Version, Revision, Source, Licenses string
	// Created is every timestamp in the image (files, config, history) and
	// the label org.opencontainers.image.created: the commit's time
	// (SOURCE_DATE_EPOCH) makes builds reproducible. The zero time is
	// refused.
	Created time.Time
	// Out is the archive to write; written to Out.tmp first and renamed.
	Out string
}

// Platform is one image of a Result.
type Platform struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
	Binary   string `json:"binary"`
}

// Result says what Build wrote.
type Result struct {
	Out string `json:"out"`
	Tag string `json:"tag"`
	// Digest is the index's digest with several platforms, else the
	// image's: what a registry serves under Tag after a push.
	Digest    string     `json:"digest"`
	MediaType string     `json:"media_type"`
	Bytes     int64      `json:"bytes"`
	Platforms []Platform `json:"platforms"`
	// CACerts is the CA bundle copied into the image (Options.Certs) and
	// CACertsSHA256 the sha256 (hex) of its bytes, the label CACertsLabel.
	CACerts       string `json:"ca_certs"`
	CACertsSHA256 string `json:"ca_certs_sha256"`
}

// ParseBinary parses a --binary value PLATFORM=PATH, PLATFORM being
// linux/ARCH.
func ParseBinary(s string) (Binary, error) {
	plat, path, ok := strings.Cut(s, "=")
	if !ok || path == "" {
		return Binary{}, fmt.Errorf("binary %q: want PLATFORM=PATH, e.g. linux/amd64=bin/rig-cloud", s)
	}
	if _, err := parsePlatform(plat); err != nil {
		return Binary{}, err
	}
	return Binary{Platform: plat, Path: path}, nil
}

func parsePlatform(s string) (v1.Platform, error) {
	osName, arch, ok := strings.Cut(s, "/")
	if !ok || osName != "linux" {
		return v1.Platform{}, fmt.Errorf("platform %q: want linux/ARCH (ARCH one of %s)", s, strings.Join(Arches(), ", "))
	}
	if _, ok := arches[arch]; !ok {
		return v1.Platform{}, fmt.Errorf("platform %q: architecture %q is not one of %s", s, arch, strings.Join(Arches(), ", "))
	}
	return v1.Platform{OS: osName, Architecture: arch}, nil
}

// Validate checks o without reading any file.
func (o Options) Validate() error {
	if len(o.Binaries) == 0 {
		return errors.New("no binary: name one per platform, linux/amd64=PATH")
	}
	seen := map[string]bool{}
	for _, b := range o.Binaries {
		if _, err := parsePlatform(b.Platform); err != nil {
			return err
		}
		if seen[b.Platform] {
			return fmt.Errorf("platform %s given twice", b.Platform)
		}
		seen[b.Platform] = true
		if b.Path == "" {
			return fmt.Errorf("platform %s: no binary path", b.Platform)
		}
	}
	if o.Certs == "" {
		return errors.New("no CA bundle: name the host's PEM bundle (--ca-certs FILE)")
	}
	if _, err := name.NewTag(o.Tag); err != nil {
		return fmt.Errorf("tag %q: want NAME:TAG (%v)", o.Tag, err)
	}
	if _, err := containerdName(o.Tag); err != nil {
		return fmt.Errorf("tag %q: want NAME:TAG (%v)", o.Tag, err)
	}
	if !strings.Contains(o.Tag[strings.LastIndex(o.Tag, "/")+1:], ":") {
		return fmt.Errorf("tag %q: want NAME:TAG, with the TAG", o.Tag)
	}
	if o.Version == "" {
		return errors.New("no version")
	}
	if o.Created.IsZero() {
		return errors.New("no creation time: set SOURCE_DATE_EPOCH (e.g. $(git log -1 --format=%ct)) so that the build is reproducible")
	}
	if o.Out == "" {
		return errors.New("no output file")
	}
	return nil
}

// Build checks the binaries and the CA bundle and writes the image archive
// to o.Out: an OCI image layout (oci-layout, index.json, blobs/sha256/)
// with, beside it, the manifest.json of `docker save`, so that both OCI
// tools and every docker version load it. It writes nothing when a check
// fails.
func Build(o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	certs, err := readCapped(o.Certs, MaxCertsBytes)
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("CA bundle: %w; pass the host's PEM bundle with --ca-certs FILE (Fedora/RHEL: --ca-certs %s; make image: IMAGE_CA_CERTS=FILE)", err, FedoraCerts)
	}
	if err != nil {
		return Result{}, fmt.Errorf("CA bundle: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(certs) {
		return Result{}, fmt.Errorf("CA bundle %s: no PEM certificate in it", o.Certs)
	}
	created := o.Created.UTC().Truncate(time.Second)
	base, err := layer(created, baseFiles(certs))
	if err != nil {
		return Result{}, fmt.Errorf("base layer: %w", err)
	}
	sum := sha256.Sum256(certs)
	res := Result{Out: o.Out, Tag: o.Tag, CACerts: o.Certs, CACertsSHA256: hex.EncodeToString(sum[:])}
	var images []v1.Image
	for _, b := range o.Binaries {
		plat, _ := parsePlatform(b.Platform)
		img, err := platformImage(o, b, plat, created, base, res.CACertsSHA256)
		if err != nil {
			return Result{}, err
		}
		d, err := img.Digest()
		if err != nil {
			return Result{}, fmt.Errorf("image %s: %w", b.Platform, err)
		}
		images = append(images, img)
		res.Platforms = append(res.Platforms, Platform{Platform: b.Platform, Digest: d.String(), Binary: b.Path})
	}
	n, top, err := writeArchive(o, images)
	if err != nil {
		return Result{}, err
	}
	res.Bytes, res.Digest, res.MediaType = n, top.Digest.String(), string(top.MediaType)
	return res, nil
}

func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// platformImage is the image of one platform: base, then the binary.
// certsSHA is the CA bundle's sha256 (hex), the label CACertsLabel.
func platformImage(o Options, b Binary, plat v1.Platform, created time.Time, base v1.Layer, certsSHA string) (v1.Image, error) {
	bin, err := readCapped(b.Path, MaxBinaryBytes)
	if err != nil {
		return nil, fmt.Errorf("binary for %s: %w", b.Platform, err)
	}
	if err := CheckBinary(bytes.NewReader(bin), b.Path, plat.Architecture); err != nil {
		return nil, err
	}
	binLayer, err := layer(created, binaryFiles(bin))
	if err != nil {
		return nil, fmt.Errorf("binary layer %s: %w", b.Platform, err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "rig-cloud",
		"org.opencontainers.image.description": "hydrognn rig-cloud (CPU build, CGO_ENABLED=0)",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
		CACertsLabel:                           certsSHA,
	}
	for k, v := range map[string]string{"revision": o.Revision, "source": o.Source, "licenses": o.Licenses} {
		if v != "" {
			labels["org.opencontainers.image."+k] = v
		}
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			Entrypoint:   []string{BinaryPath},
			Cmd:          DefaultCmd,
			Env:          Env,
			User:         fmt.Sprintf("%d:%d", UID, GID),
			WorkingDir:   "/",
			Labels:       labels,
			ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", HTTPPort): {}},
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", b.Platform, err)
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "rigctl release image: base (passwd, group, CA bundle, /tmp, /etc/hydrognn, /var/lib/rig-cloud, /home/nonroot)"}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "rigctl release image: " + BinaryPath}})
	if err != nil {
		return nil, fmt.Errorf("image %s: layers: %w", b.Platform, err)
	}
	return img, nil
}

// file is one entry of a layer.
type file struct {
	path     string // without the leading /; a folder ends in /
	mode     int64
	uid, gid int
	data     []byte
}

func baseFiles(certs []byte) []file {
	return []file{
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte(groupLines)},
		{path: "etc/hydrognn/", mode: 0o755},
		{path: "etc/passwd", mode: 0o644, data: []byte(passwdLines)},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: strings.TrimPrefix(CertsPath, "/"), mode: 0o644, data: certs},
		{path: "home/", mode: 0o755},
		{path: "home/nonroot/", mode: 0o700, uid: UID, gid: GID},
		{path: "tmp/", mode: 0o1777},
		{path: "var/", mode: 0o755},
		{path: "var/lib/", mode: 0o755},
		{path: "var/lib/rig-cloud/", mode: 0o755, uid: UID, gid: GID},
	}
}

func binaryFiles(bin []byte) []file {
	return []file{
		{path: "usr/", mode: 0o755},
		{path: "usr/local/", mode: 0o755},
		{path: "usr/local/bin/", mode: 0o755},
		{path: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: bin},
	}
}

// layer is a gzip-compressed OCI layer of files, in their order, each
// stamped with created.
func layer(created time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: created, Format: tar.FormatPAX}
		if strings.HasSuffix(f.path, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.path, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// dockerManifest is one entry of docker save's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// archive collects the blobs and entries of the output tar.
type archive struct {
	blobs map[string][]byte // digest -> content
}

func (a *archive) add(d v1.Hash, b []byte) string {
	a.blobs[d.String()] = b
	return "blobs/sha256/" + d.Hex
}

func (a *archive) addImage(img v1.Image) (dockerManifest, v1.Descriptor, error) {
	var m dockerManifest
	raw, err := img.RawManifest()
	if err != nil {
		return m, v1.Descriptor{}, fmt.Errorf("manifest: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return m, v1.Descriptor{}, fmt.Errorf("manifest digest: %w", err)
	}
	a.add(d, raw)
	cfg, err := img.RawConfigFile()
	if err != nil {
		return m, v1.Descriptor{}, fmt.Errorf("config: %w", err)
	}
	cd, err := img.ConfigName()
	if err != nil {
		return m, v1.Descriptor{}, fmt.Errorf("config digest: %w", err)
	}
	m.Config = a.add(cd, cfg)
	layers, err := img.Layers()
	if err != nil {
		return m, v1.Descriptor{}, fmt.Errorf("layers: %w", err)
	}
	for _, l := range layers {
		ld, err := l.Digest()
		if err != nil {
			return m, v1.Descriptor{}, fmt.Errorf("layer digest: %w", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return m, v1.Descriptor{}, fmt.Errorf("layer %s: %w", ld, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return m, v1.Descriptor{}, fmt.Errorf("layer %s: %w", ld, err)
		}
		m.Layers = append(m.Layers, a.add(ld, b))
	}
	return m, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: d}, nil
}

// writeArchive writes o.Out and returns its size and the descriptor of
// index.json's one entry (the image, or the index of several).
func writeArchive(o Options, images []v1.Image) (int64, v1.Descriptor, error) {
	a := &archive{blobs: map[string][]byte{}}
	var manifests []dockerManifest
	var descs []v1.Descriptor
	for i, img := range images {
		m, d, err := a.addImage(img)
		if err != nil {
			return 0, v1.Descriptor{}, fmt.Errorf("image %s: %w", o.Binaries[i].Platform, err)
		}
		plat, _ := parsePlatform(o.Binaries[i].Platform)
		d.Platform = &plat
		m.RepoTags = []string{o.Tag}
		if len(images) > 1 {
			m.RepoTags = []string{o.Tag + "-" + plat.Architecture}
		}
		manifests = append(manifests, m)
		descs = append(descs, d)
	}
	top := descs[0]
	top.Platform = nil
	if len(images) > 1 {
		idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs,
			Annotations: map[string]string{"org.opencontainers.image.created": o.Created.UTC().Truncate(time.Second).Format(time.RFC3339),
				"org.opencontainers.image.version": o.Version}}
		raw, err := json.Marshal(idx)
		if err != nil {
			return 0, v1.Descriptor{}, fmt.Errorf("index: %w", err)
		}
		d, _, err := v1.SHA256(bytes.NewReader(raw))
		if err != nil {
			return 0, v1.Descriptor{}, fmt.Errorf("index digest: %w", err)
		}
		a.add(d, raw)
		top = v1.Descriptor{MediaType: types.OCIImageIndex, Size: int64(len(raw)), Digest: d}
	}
	tag, _ := name.NewTag(o.Tag)
	full, err := containerdName(o.Tag)
	if err != nil {
		return 0, v1.Descriptor{}, err
	}
	outer := top
	outer.Annotations = map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		"io.containerd.image.name":          full,
	}
	index, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{outer}})
	if err != nil {
		return 0, v1.Descriptor{}, fmt.Errorf("index.json: %w", err)
	}
	docker, err := json.Marshal(manifests)
	if err != nil {
		return 0, v1.Descriptor{}, fmt.Errorf("manifest.json: %w", err)
	}
	n, err := writeTar(o.Out, o.Created.UTC().Truncate(time.Second), a.blobs, index, docker)
	return n, top, err
}

// containerdName is tag as containerd stores and looks up images: the
// normalized reference (rig-cloud:1.4.0 is
// docker.io/library/rig-cloud:1.4.0), the name docker save writes. The
// importer of containerd (Docker's containerd image store, nerdctl, ctr,
// the kubelet's CRI) keeps the annotation as written, and lookups
// normalize the name asked for, so a short name would never be found.
// gcr's name.Tag.Name is not it: it says index.docker.io.
func containerdName(tag string) (string, error) {
	ref, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		return "", fmt.Errorf("tag %q: %w", tag, err)
	}
	return ref.String(), nil
}

func writeTar(out string, mtime time.Time, blobs map[string][]byte, index, docker []byte) (n int64, err error) {
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	tw := tar.NewWriter(f)
	put := func(name string, b []byte) error {
		h := &tar.Header{Name: name, Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(b)), Format: tar.FormatPAX}
		if b == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s in %s: %w", name, out, err)
		}
		if _, err := tw.Write(b); err != nil {
			return fmt.Errorf("write %s in %s: %w", name, out, err)
		}
		return nil
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return 0, err
	}
	if err := put("blobs/", nil); err != nil {
		return 0, err
	}
	if err := put("blobs/sha256/", nil); err != nil {
		return 0, err
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := put("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), blobs[d]); err != nil {
			return 0, err
		}
	}
	if err := put("index.json", index); err != nil {
		return 0, err
	}
	if err := put("manifest.json", docker); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	if n, err = f.Seek(0, io.SeekCurrent); err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, fmt.Errorf("rename %s: %w", filepath.Base(tmp), err)
	}
	return n, nil
}
