package rigctl

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

func init() {
	register("keys", "TUF signing keys: keys init --dir REPO --keys KEYS | keys rotate ROLE --repo REPO --keys KEYS", runKeys)
	register("release", "sign a model bundle into the TUF repository (release create --repo REPO ...; release publish --root ROOT --keys KEYS --bundle DIR and release resign to rig-cloud; release image: rig-cloud's container image)", runRelease)
}

const keysUsage = `keys init --dir REPO --keys KEYS [--root-threshold N] [--root-keys M] [expiry flags]
       rigctl keys rotate ROLE --repo REPO --keys KEYS [--threshold N] [--count M] [expiry flags]

init creates a TUF repository in REPO (published as is) with M root keys
(threshold N), one key each for targets, snapshot and timestamp, all
ed25519 and written 0600 into KEYS (0700; never inside REPO; an existing
KEYS must already be private: chmod 700 KEYS), and signs version 1 of every
role (1.root.json, targets.json, snapshot.json, timestamp.json). Move the
root keys to offline media afterwards.

rotate replaces ROLE's keys (root, targets, snapshot or timestamp) in a new
root version signed by the old root's keys and, for root, the new ones, so
agents holding the old root follow. It needs the root keys in KEYS.
See docs/releases.md.`

const releaseUsage = `release create --repo REPO --keys KEYS --bundle DIR [--hardware LIST] [expiry flags]
       rigctl release publish --root ROOT --keys KEYS --bundle DIR [--hardware LIST] [--targets-expiry D] [--idle-timeout 2m] [--context NAME] [--json]
       rigctl release resign --root ROOT --keys KEYS [--targets-expiry D] [--idle-timeout 2m] [--context NAME] [--json]
       rigctl release image --binary linux/ARCH=PATH [--binary ...] --version V --out FILE [--json] (rigctl release image -h)

Loads the model bundle in DIR (checking its files' digests), archives it as
the TUF target <rig_type>/<name>-<version>.tar.gz with the release metadata
from its manifest (rig type, firmware-config digest, execution providers,
hardware, minimum agent version, version, precisions), and signs new
targets, snapshot and timestamp metadata. Needs the targets, snapshot and
timestamp keys in KEYS (not the root keys). Every command here refuses a
KEYS folder that group or others may access, or a key file they may read
(chmod 700 KEYS, chmod 600 FILE).

publish does the same for a repository rig-cloud serves: it fetches and
verifies the current metadata with go-tuf's updater, trusting the root
metadata file ROOT (the ceremony's 1.root.json, or a later root), signs the
next targets with the targets key in KEYS (the only key it needs), and
sends them with the archive to POST /v1/releases, where rig-cloud checks
them and signs snapshot and timestamp. The login context (or RIGCTL_SERVER
and RIGCTL_TOKEN) must hold a release token (rig-cloud token create
--release); the token goes to rig-cloud's own origin only, never to a host
a /tuf/ redirect names. The upload has no time limit: it prints its
progress on stderr (bytes, rate, time left; none with --json) and gives up
when nothing moved for --idle-timeout (0: never), the wait for the answer
after the last byte included.

resign renews the targets' expiry on rig-cloud without a release: it signs
the next version of the verified current targets, unchanged, with the
targets key. Run it before the targets expire (default 90 days after the
last release or re-signing).

image builds rig-cloud's container image (rigctl release image -h).
See docs/releases.md.`

// expiryFlags adds the four expiry flags to fs.
func expiryFlags(fs *flag.FlagSet) *tufrepo.Expiry {
	e := tufrepo.DefaultExpiry
	fs.DurationVar(&e.Root, "root-expiry", e.Root, "how long a signed root stays valid")
	fs.DurationVar(&e.Targets, "targets-expiry", e.Targets, "how long signed targets stay valid")
	fs.DurationVar(&e.Snapshot, "snapshot-expiry", e.Snapshot, "how long a signed snapshot stays valid")
	fs.DurationVar(&e.Timestamp, "timestamp-expiry", e.Timestamp, "how long a signed timestamp stays valid")
	return &e
}

func checkExpiry(e *tufrepo.Expiry) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"root", e.Root}, {"targets", e.Targets}, {"snapshot", e.Snapshot}, {"timestamp", e.Timestamp}} {
		if d.v <= 0 {
			return fmt.Errorf("--%s-expiry %v must be positive", d.name, d.v)
		}
	}
	return nil
}

func runKeys(_ context.Context, env Env, args []string) int {
	if len(args) == 0 || (args[0] != "init" && args[0] != "rotate") {
		fmt.Fprintln(env.Stderr, "Usage: rigctl "+keysUsage)
		return ExitUsage
	}
	if args[0] == "init" {
		fs := newFlags(env, "keys init", keysUsage)
		dir := fs.String("dir", "", "the repository `REPO` to create (published; required)")
		keys := fs.String("keys", "", "the `KEYS` folder for the private keys (outside REPO; required)")
		thr := fs.Int("root-threshold", 1, "how many root keys must sign a root")
		n := fs.Int("root-keys", 0, "how many root keys to create (default: the threshold)")
		exp := expiryFlags(fs)
		if code, ok := parseFlags(fs, args[1:]); !ok {
			return code
		}
		if *dir == "" || *keys == "" || fs.NArg() > 0 {
			errorf(env, "keys init: --dir REPO and --keys KEYS are required (no other arguments)")
			return ExitUsage
		}
		if err := checkExpiry(exp); err != nil {
			errorf(env, "keys init: %v", err)
			return ExitUsage
		}
		r, err := tufrepo.Init(*dir, *keys, tufrepo.Options{RootThreshold: *thr, RootKeys: *n, Expiry: *exp})
		if err != nil {
			errorf(env, "keys init: %v", err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "repository %s initialised (%s); keys in %s: move the root keys offline\n", r.Dir(), versions(r), *keys)
		return ExitOK
	}
	fs := newFlags(env, "keys rotate", keysUsage)
	repo := fs.String("repo", "", "the repository `REPO` (required)")
	keys := fs.String("keys", "", "the `KEYS` folder, holding the current root keys (required)")
	thr := fs.Int("threshold", 0, "the role's new threshold (default: its current one)")
	n := fs.Int("count", 0, "how many new keys (default: as many as it has)")
	exp := expiryFlags(fs)
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		errorf(env, "keys rotate: name the ROLE (root, targets, snapshot or timestamp) before the flags")
		return ExitUsage
	}
	role := args[1]
	if code, ok := parseFlags(fs, args[2:]); !ok {
		return code
	}
	if *repo == "" || *keys == "" || fs.NArg() > 0 {
		errorf(env, "keys rotate: --repo REPO and --keys KEYS are required (no other arguments)")
		return ExitUsage
	}
	if err := checkExpiry(exp); err != nil {
		errorf(env, "keys rotate: %v", err)
		return ExitUsage
	}
	r, err := tufrepo.Open(*repo, *keys, tufrepo.Options{Expiry: *exp, StrictKeyModes: true})
	if err == nil {
		err = r.Rotate(role, *thr, *n)
	}
	if err != nil {
		errorf(env, "keys rotate: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "%s keys rotated in %s (%s); old keys moved to %s/retired\n", role, r.Dir(), versions(r), *keys)
	return ExitOK
}

func runRelease(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || (args[0] != "create" && args[0] != "publish" && args[0] != "resign" && args[0] != "image") {
		fmt.Fprintln(env.Stderr, "Usage: rigctl "+releaseUsage)
		return ExitUsage
	}
	if args[0] == "image" {
		return runReleaseImage(env, args[1:])
	}
	if args[0] != "create" {
		return runPublish(ctx, env, args[0], args[1:])
	}
	fs := newFlags(env, "release create", releaseUsage)
	repo := fs.String("repo", "", "the repository `REPO` (required)")
	keys := fs.String("keys", "", "the `KEYS` folder with the targets, snapshot and timestamp keys (required)")
	dir := fs.String("bundle", "", "the model bundle `DIR` (required)")
	hw := fs.String("hardware", "", "comma-separated hardware the release supports (default: amd64,arm64)")
	exp := expiryFlags(fs)
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *repo == "" || *keys == "" || *dir == "" || fs.NArg() > 0 {
		errorf(env, "release create: --repo REPO, --keys KEYS and --bundle DIR are required (no other arguments)")
		return ExitUsage
	}
	if err := checkExpiry(exp); err != nil {
		errorf(env, "release create: %v", err)
		return ExitUsage
	}
	var hardware []string
	if *hw != "" {
		hardware = strings.Split(*hw, ",")
	}
	r, err := tufrepo.Open(*repo, *keys, tufrepo.Options{Expiry: *exp, StrictKeyModes: true})
	if err != nil {
		errorf(env, "release create: %v", err)
		return ExitFailure
	}
	rel, tf, err := r.AddBundle(*dir, hardware)
	if err != nil {
		errorf(env, "release create: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "released %s: %d bytes, sha256 %s, rig type %s, hardware %s (%s)\n", tf.Path, tf.Length,
		hex.EncodeToString(tf.Hashes["sha256"]), rel.RigType, strings.Join(rel.Hardware, ","), versions(r))
	return ExitOK
}

func versions(r *tufrepo.Repo) string {
	v := r.Versions()
	return fmt.Sprintf("root %d, targets %d, snapshot %d, timestamp %d", v["root"], v["targets"], v["snapshot"], v["timestamp"])
}
