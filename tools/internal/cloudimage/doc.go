// Package cloudimage builds rig-cloud's container image without a container
// engine: from scratch (no base image), one image per platform from a static
// rig-cloud binary, several platforms gathered in an OCI image index, all
// written as one tar archive that `docker load`, `podman load` and
// `skopeo copy oci-archive:FILE ...` accept.
//
// The basics: Build takes Options (one static ELF binary per linux platform,
// the CA bundle, the version, revision, creation time and source of the
// labels) and writes the archive to Options.Out. CheckBinary is the check
// Build applies to each binary: an ELF executable for the named
// architecture with no program interpreter and no dynamic section, the only
// kind of file that runs in an image with no C library.
//
// The image holds two layers: a base (/etc/passwd and /etc/group with the
// non-root user and group 65532, the CA bundle at
// /etc/ssl/certs/ca-certificates.crt, a world-writable /tmp, /etc/hydrognn
// for the config, root's (0755: rig-cloud reads its config and cannot
// change it), /var/lib/rig-cloud for the blob store, owned by 65532:65532,
// and 65532's home /home/nonroot, 0700),
// the same bytes for every platform, and the binary at
// /usr/local/bin/rig-cloud. The config runs `rig-cloud serve --config
// /etc/hydrognn/rig-cloud.yaml` as 65532:65532 by default, as the manifests
// in deploy/k8s expect.
//
// Caveats: the archive is reproducible — every timestamp (the files', the
// config's created time, the history's) is Options.Created, files are
// written in a fixed order with uid/gid and modes fixed, and layers are
// gzip-compressed by the Go release building rigctl — so two builds of the
// same inputs by the same rigctl give the same digests. The CA bundle is one
// of the inputs, and it is the build host's unless Options.Certs names
// another: hosts with other ca-certificates versions give other digests,
// and a local CA added to the host's bundle ships in the image. The label
// CACertsLabel (and Result.CACertsSHA256) holds the bundle's sha256. The
// image is the CPU one: rig-cloud's XLA backend needs cgo, which a static
// binary lacks.
package cloudimage
