package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// servedRelease finds the release of rel's rig type that served model m
// is: by manifest digest when the agents report one, else by version
// among the releases of rel's bundle ("", false: none in the repository,
// e.g. the bundle a rig was installed with).
func servedRelease(rels map[string]*release.Target, rel *release.Target, m store.ServedModel) (string, bool) {
	for p, t := range rels {
		if t.RigType != rel.RigType {
			continue
		}
		if m.Digest != "" {
			if t.ManifestDigest == m.Digest {
				return p, true
			}
			continue
		}
		if t.Bundle == rel.Bundle && t.Version == m.Version {
			return p, true
		}
	}
	return "", false
}

// newerServed lists the models of served newer than version ("1.2.0
// (3 agents)") and counts their agents: a rollout of version would
// downgrade them.
func newerServed(served []store.ServedModel, version string) (list []string, agents int) {
	for _, m := range served {
		if cmp, ok := release.CompareVersions(m.Version, version); ok && cmp > 0 {
			list = append(list, fmt.Sprintf("%s (%d agents)", m.Version, m.Agents))
			agents += m.Agents
		}
	}
	return list, agents
}

// defaultPrevious picks the previous release of a rollout of rel (at
// path) that names none: the release the selected agents serve (served,
// by their last check-in) when they all serve one older release of the
// repository made for rel's firmware config (sameConfig); else, when they
// serve none such, the newest older release of rel's bundle that is not
// a prerelease nor a release of org's that halted or was rolled back
// (previousRelease).
// When they serve several older releases, refusal says so and asks for
// previous. warning is set when the fallback is used (previousRelease):
// no selected agent was seen serving it, and agents installed from
// model.bundle_dir roll back only to the bundle they kept, so they will
// refuse a rollback to it (review r11, F3); it says whether the agents
// serve older releases, all made for another firmware config.
func (a *API) defaultPrevious(ctx context.Context, orgID int64, rels map[string]*release.Target, path string, rel *release.Target,
	served []store.ServedModel) (prev *rolloutapi.Release, warning, refusal string, err error) {
	older := map[string]int{}
	otherConfig := false // an older release served, made for another config
	for _, m := range served {
		p, ok := servedRelease(rels, rel, m)
		if !ok || p == path {
			continue
		}
		if cmp, ok := release.CompareVersions(rels[p].Version, rel.Version); !ok || cmp >= 0 {
			continue
		}
		if !sameConfig(rels[p], rel) {
			otherConfig = true
			continue
		}
		older[p] += m.Agents
	}
	switch len(older) {
	case 0:
	case 1:
		for p := range older {
			t := rels[p]
			return &rolloutapi.Release{Target: p, Version: t.Version, ManifestDigest: t.ManifestDigest, ConfigDigest: t.ConfigDigest}, "", "", nil
		}
	default:
		paths := make([]string, 0, len(older))
		for p := range older {
			paths = append(paths, p)
		}
		slices.SortFunc(paths, func(x, y string) int {
			if older[x] != older[y] {
				return older[y] - older[x]
			}
			return strings.Compare(x, y)
		})
		list := make([]string, len(paths))
		for i, p := range paths {
			list[i] = fmt.Sprintf("%s (%d agents)", p, older[p])
		}
		return nil, "", fmt.Sprintf("the selected agents serve %d older releases (%s): name the one a rollback offers with previous (rigctl rollout create --previous PATH), or narrow the selection",
			len(paths), strings.Join(list, ", ")), nil
	}
	bad, err := a.st.HaltedReleases(ctx, orgID)
	if err != nil {
		return nil, "", "", err
	}
	prev = previousRelease(rels, path, rel, bad)
	if prev == nil {
		return nil, "", "", nil
	}
	return prev, fallbackWarning(prev, otherConfig), "", nil
}

// fallbackWarning says that prev, the default previous release, is a
// fallback that the selected agents were not seen serving: they serve no
// older release of the repository, or (otherConfig) only older ones made
// for another firmware config than the release's.
func fallbackWarning(prev *rolloutapi.Release, otherConfig bool) string {
	why := "the selected agents serve no older release of the repository " +
		"(e.g. they run the bundle they were installed with, model.bundle_dir)"
	if otherConfig {
		why = "the selected agents serve no older release made for the release's firmware config " +
			"(the older ones they serve are made for another, and a rollback to one would be offered to no agent that installed the release)"
	}
	return fmt.Sprintf("previous release %s (version %s) is a fallback: %s; a rollback offers it, and agents that never ran it "+
		"refuse to roll back to it (they roll back only to the bundle they kept): name previous (rigctl rollout create --previous PATH) "+
		"to choose another, or expect such agents to end incompatible on a rollback", prev.Target, prev.Version, why)
}

// sameConfig tells whether releases a and b were made for the same
// firmware config (either without a config digest: taken as the same).
// A rollback to a release made for another config than the release's
// would be offered to none of the agents that installed the release
// (rollout.Unfit): they run the release's config.
func sameConfig(a, b *release.Target) bool {
	return a.ConfigDigest == "" || b.ConfigDigest == "" || a.ConfigDigest == b.ConfigDigest
}

// previousRelease is the newest release of rel's bundle and rig type
// older than rel, made for rel's firmware config (sameConfig), that is
// neither a prerelease nor in bad (the releases of rollouts that halted
// or were rolled back); nil: none.
func previousRelease(rels map[string]*release.Target, path string, rel *release.Target, bad map[string]bool) *rolloutapi.Release {
	var best *rolloutapi.Release
	for p, t := range rels {
		if p == path || t.Bundle != rel.Bundle || t.RigType != rel.RigType || bad[p] || release.Prerelease(t.Version) || !sameConfig(t, rel) {
			continue
		}
		if cmp, ok := release.CompareVersions(t.Version, rel.Version); !ok || cmp >= 0 {
			continue
		}
		if best != nil {
			if cmp, _ := release.CompareVersions(t.Version, best.Version); cmp <= 0 {
				continue
			}
		}
		best = &rolloutapi.Release{Target: p, Version: t.Version, ManifestDigest: t.ManifestDigest, ConfigDigest: t.ConfigDigest}
	}
	return best
}
