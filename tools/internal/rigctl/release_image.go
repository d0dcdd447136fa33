package rigctl

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/tools/internal/cloudimage"
)

const releaseImageUsage = `release image --binary linux/ARCH=PATH [--binary ...] --version V --out FILE [--revision REV] [--created TIME] [--tag NAME:TAG] [--ca-certs FILE] [--source URL] [--licenses SPDX] [--json]

Builds rig-cloud's container image from scratch, without a container
engine: one image per --binary (a static rig-cloud built with
CGO_ENABLED=0; a dynamic binary or one of another architecture is
refused), gathered in an OCI image index when there are several. It holds
the binary at /usr/local/bin/rig-cloud (the entrypoint; default command
serve --config /etc/hydrognn/rig-cloud.yaml, where deploy/k8s mounts the
config), the CA bundle, /etc/passwd and /etc/group with the user and group
65532 it runs as, and a writable /tmp. FILE is a tar archive holding an OCI
image layout and docker save's manifest.json: docker load -i FILE, podman
load -i FILE, skopeo copy --all oci-archive:FILE docker://REGISTRY/... .

Every timestamp is --created (default: $SOURCE_DATE_EPOCH, seconds since
1970; RFC 3339 also accepted), so the same inputs give the same digest:
the same binaries and the same CA bundle. The bundle is the build host's
unless --ca-certs names another (Fedora/RHEL keep it at
/etc/pki/tls/certs/ca-bundle.crt); every CA in it ships in the image, and
its sha256 is the label io.hydrognn.ca-certificates.sha256.
make image builds rig-cloud for linux/amd64 and linux/arm64 and runs this
with the commit's time. The image is the CPU one: rig-cloud's XLA backend
needs cgo. See docs/releases.md.`

// binaryFlags is the repeatable --binary flag.
type binaryFlags []cloudimage.Binary

func (b *binaryFlags) String() string {
	s := make([]string, len(*b))
	for i, x := range *b {
		s[i] = x.Platform + "=" + x.Path
	}
	return strings.Join(s, ",")
}

func (b *binaryFlags) Set(v string) error {
	x, err := cloudimage.ParseBinary(v)
	if err != nil {
		return err
	}
	*b = append(*b, x)
	return nil
}

// parseCreated reads --created or SOURCE_DATE_EPOCH: seconds since 1970 or
// RFC 3339.
func parseCreated(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return time.Time{}, fmt.Errorf("creation time %q: want seconds after 1970", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("creation time %q: want seconds since 1970 (SOURCE_DATE_EPOCH) or RFC 3339", s)
	}
	return t.UTC(), nil
}

func runReleaseImage(env Env, args []string) int {
	fs := newFlags(env, "release image", releaseImageUsage)
	var bins binaryFlags
	fs.Var(&bins, "binary", "`PLATFORM=PATH`: a static rig-cloud for linux/ARCH (repeat per platform; required)")
	out := fs.String("out", "", "the image archive `FILE` to write (required)")
	version := fs.String("version", "", "the image's version label, and its tag by default (required)")
	revision := fs.String("revision", "", "the commit `REV` for the revision label")
	created := fs.String("created", "", "every timestamp in the image: seconds since 1970 or RFC 3339 (default: $SOURCE_DATE_EPOCH)")
	tag := fs.String("tag", "", "the image's `NAME:TAG` in the archive (default: rig-cloud:VERSION)")
	certs := fs.String("ca-certs", cloudimage.CertsPath, "the CA bundle (PEM) `FILE` to copy into the image (Fedora/RHEL: "+cloudimage.FedoraCerts+")")
	source := fs.String("source", "https://github.com/hydrognn/hydrognn", "the source `URL` label")
	licenses := fs.String("licenses", "Apache-2.0", "the licenses label (`SPDX` expression)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if len(bins) == 0 || *out == "" || *version == "" || fs.NArg() > 0 {
		errorf(env, "release image: --binary PLATFORM=PATH, --version V and --out FILE are required (no other arguments)")
		return ExitUsage
	}
	when := *created
	if when == "" {
		when = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if when == "" {
		errorf(env, "release image: set SOURCE_DATE_EPOCH (e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%%ct)) or --created: the image's timestamps must be fixed for the build to be reproducible")
		return ExitUsage
	}
	t, err := parseCreated(when)
	if err != nil {
		errorf(env, "release image: %v", err)
		return ExitUsage
	}
	if *tag == "" {
		*tag = cloudimage.DefaultTag + ":" + *version
	}
	o := cloudimage.Options{Binaries: bins, Certs: *certs, Tag: *tag, Version: *version, Revision: *revision,
		Source: *source, Licenses: *licenses, Created: t, Out: *out}
	if err := o.Validate(); err != nil {
		errorf(env, "release image: %v", err)
		return ExitUsage
	}
	res, err := cloudimage.Build(o)
	if err != nil {
		errorf(env, "release image: %v", err)
		return ExitFailure
	}
	if *asJSON {
		return printJSON(env, res)
	}
	kind := "image"
	if len(res.Platforms) > 1 {
		kind = "image index"
	}
	fmt.Fprintf(env.Stdout, "wrote %s: %s %s %s, %d bytes\n", res.Out, res.Tag, kind, res.Digest, res.Bytes)
	for _, p := range res.Platforms {
		fmt.Fprintf(env.Stdout, "  %s %s (%s)\n", p.Platform, p.Digest, p.Binary)
	}
	fmt.Fprintf(env.Stdout, "  CA bundle sha256:%s (%s)\n", res.CACertsSHA256, res.CACerts)
	return ExitOK
}
