// Package release defines what a signed model release says about itself: the
// custom metadata a model bundle carries as a TUF target
// (github.com/theupdateframework/go-tuf/v2), and the target's path.
//
// A release is one model bundle (shared/bundle) archived as a tar.gz
// (shared/tarball) and listed in the repository's targets metadata, signed
// by the targets key(s). The target's "custom" object is a Target: the rig
// type and firmware-config digest the bundle was made for, the execution
// providers and hardware it supports, the oldest agent that can run it, the
// bundle's name, version and precisions, and the manifest's digest. The
// agent reads it from metadata it has verified through the go-tuf updater,
// so it can refuse a bundle for another rig before downloading it.
//
// Decode is strict: unknown fields, a wrong type, trailing data or a value
// that fails Validate are errors wrapping ErrInvalid, each naming the field
// and the bad value. A newer release format is therefore refused by an older
// agent instead of being half-understood.
//
// The package only describes; creating and signing a repository is
// shared/tufrepo's job, verifying one is the go-tuf updater's.
package release
