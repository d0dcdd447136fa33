package release

import (
	"strings"

	"golang.org/x/mod/semver"
)

// CompareVersions compares two release versions, semantic versions
// MAJOR.MINOR.PATCH with an optional leading "v", -prerelease and +build
// (golang.org/x/mod/semver's ordering: a prerelease sorts before its
// release, prerelease identifiers compare as semver 2.0 says, build
// metadata is ignored). It returns -1, 0 or 1; ok is false when either is
// not such a version (shorthands like "1.2" included). The agent's update
// machine and rig-cloud's rollouts order releases with it.
func CompareVersions(a, b string) (c int, ok bool) {
	va, oka := canonical(a)
	vb, okb := canonical(b)
	if !oka || !okb {
		return 0, false
	}
	return semver.Compare(va, vb), true
}

// canonical returns s with a leading "v" and whether it is a full
// MAJOR.MINOR.PATCH semantic version.
func canonical(s string) (string, bool) {
	if !strings.HasPrefix(s, "v") {
		s = "v" + s
	}
	core, _, _ := strings.Cut(s, "+")
	core, _, _ = strings.Cut(core, "-")
	return s, semver.IsValid(s) && strings.Count(core, ".") == 2
}

// Prerelease reports whether v is a valid version (CompareVersions) with
// a -prerelease part ("1.2.0-rc1"): a release candidate that ranks below
// its release.
func Prerelease(v string) bool {
	c, ok := canonical(v)
	return ok && semver.Prerelease(c) != ""
}
