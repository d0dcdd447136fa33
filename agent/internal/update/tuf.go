package update

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/release"
)

// fetcher is go-tuf's metadata fetcher on the Manager's HTTP client, bound
// to one cycle's context (it lives for one Refresh, never stored in the
// Manager).
type fetcher struct {
	ctx context.Context
	m   *Manager
}

// DownloadFile implements go-tuf's fetcher.Fetcher: GET url (with the
// credential, see Manager.do), at most maxLength bytes, a non-200 status
// as metadata.ErrDownloadHTTP (go-tuf reads a 404 on N.root.json as "no
// newer root"), except 401 and 403: ErrUnauthorized, which go-tuf passes
// on instead of reading a 403 on a root as the end of the chain.
func (f *fetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.m.opts.RequestTimeout)
	defer cancel()
	// Bounded by RequestTimeout: beaten for meanwhile, no longer.
	defer f.m.opts.Heartbeat.Cover(f.m.opts.RequestTimeout)()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := f.m.do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: res.StatusCode, URL: url}
	}
	if res.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than %d", url, res.ContentLength, maxLength)}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxLength+1))
	if err != nil {
		return nil, err
	}
	if bud := f.m.opts.Budget; bud != nil {
		bud.Spend(int64(len(b)))
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is more than %d bytes", url, maxLength)}
	}
	return b, nil
}

// do sends req with Options.HTTPClient. With Options.Credential, a request
// to URL's scheme, host and port carries "Authorization: Bearer
// <credential>" (read again for every request); a redirect elsewhere loses
// it (net/http drops Authorization across hosts). A 401 or 403 answer is
// returned as an error wrapping ErrUnauthorized that names the URL; any
// other answer is the caller's to read and close.
func (m *Manager) do(req *http.Request) (*http.Response, error) {
	sent := false
	if m.opts.Credential != nil && sameOrigin(req.URL, m.origin) {
		cred, err := m.opts.Credential()
		if err != nil {
			return nil, fmt.Errorf("%w: GET %s: no credential to send: %w", ErrUnauthorized, req.URL.Redacted(), err)
		}
		req.Header.Set("Authorization", "Bearer "+cred)
		sent = true
	}
	res, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		res.Body.Close()
		why := "the cloud refused the agent's credential (cloud.credential_file): check it, or re-enroll the agent"
		if !sent {
			why = "no credential was sent: update.url is not on cloud.url's host, or the agent has no cloud link"
		}
		return nil, fmt.Errorf("%w: GET %s: HTTP %s: %s", ErrUnauthorized, req.URL.Redacted(), res.Status, why)
	}
	return res, nil
}

// sameOrigin reports whether u has o's scheme, host and port.
func sameOrigin(u, o *url.URL) bool {
	return o != nil && strings.EqualFold(u.Scheme, o.Scheme) && strings.EqualFold(hostPort(u), hostPort(o))
}

func hostPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return u.Hostname() + ":" + p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return u.Hostname() + ":443"
	}
	return u.Hostname() + ":80"
}

// session is one refreshed view of the repository.
type session struct {
	u       *updater.Updater
	expires time.Time
}

// refresh builds a go-tuf updater on the trusted root (the newest one
// followed so far, kept in <dir>/metadata/root.json, else the trust
// anchor) and refreshes root (following rotations), timestamp, snapshot
// and targets. Every refusal wraps ErrMetadata and go-tuf's error.
func (m *Manager) refresh(ctx context.Context) (*session, error) {
	mdDir := filepath.Join(m.opts.Dir, "metadata")
	u, err := m.updater(ctx, mdDir)
	if err != nil {
		return nil, err
	}
	u.UnsafeSetRefTime(m.opts.Now())
	if err := u.Refresh(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: refresh %s: %w", ErrMetadata, m.opts.URL, err)
	}
	tm := u.GetTrustedMetadataSet()
	exp := tm.Timestamp.Signed.Expires
	for _, t := range []time.Time{tm.Snapshot.Signed.Expires, tm.Targets[metadata.TARGETS].Signed.Expires} {
		if t.Before(exp) {
			exp = t
		}
	}
	return &session{u: u, expires: exp}, nil
}

// updater returns a go-tuf updater trusting the newest root followed so
// far (mdDir/root.json), or the trust anchor when that one is missing or
// unusable (the chain from the anchor is then followed again).
func (m *Manager) updater(ctx context.Context, mdDir string) (*updater.Updater, error) {
	var err error
	for _, root := range [][]byte{m.cachedRoot(mdDir), m.opts.TrustedRoot} {
		if root == nil {
			continue
		}
		var cfg *config.UpdaterConfig
		if cfg, err = config.New(m.opts.URL, root); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMetadata, err)
		}
		cfg.LocalMetadataDir = mdDir
		cfg.LocalTargetsDir = filepath.Join(m.opts.Dir, "download")
		cfg.Fetcher = &fetcher{ctx: ctx, m: m}
		var u *updater.Updater
		if u, err = updater.New(cfg); err == nil {
			return u, nil
		}
		m.log.Warn("update: trusted root refused", "err", err)
	}
	return nil, fmt.Errorf("%w: trusted root: %w", ErrMetadata, err)
}

func (m *Manager) cachedRoot(mdDir string) []byte {
	b, err := os.ReadFile(filepath.Join(mdDir, "root.json"))
	if err != nil {
		return nil
	}
	return b
}

// Skip is a release the check passed over, and why.
type Skip struct {
	Path   string
	Reason string
}

// Check is the outcome of a metadata refresh: the release to install
// (nil when none is newer and fit for this rig, or, with Options.Offers,
// none is offered or the offered one is installed) and the ones passed
// over.
type Check struct {
	At   time.Time
	Pick *Target
	// Offer is the offer the check followed (nil: none, or no offers).
	Offer   *cloudapi.Offer
	Skipped []Skip
}

// pick chooses the release to install from the refreshed targets. With
// offers (Options.Offers set) it is the offered one, refused with ErrOffer
// when it is not a verified target, not for this rig, given up, or signed
// with another version; none when offer is nil or names the installed
// release. Without offers it is the newest release for this rig (rig
// type, firmware-config digest, hardware, agent version) newer than the
// installed model and not given up on.
func (m *Manager) pick(s *session, rec *Record, offers bool, offer *cloudapi.Offer) (*Check, *metadata.TargetFiles, error) {
	c := &Check{At: m.opts.Now(), Offer: offer}
	targets := s.u.GetTopLevelTargets()
	// Forget the attempts of targets no longer published.
	for p := range rec.Attempts {
		if _, ok := targets[p]; !ok {
			delete(rec.Attempts, p)
		}
	}
	if offers {
		return m.pickOffer(c, targets, rec, offer)
	}
	paths := make([]string, 0, len(targets))
	for p := range targets {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var best *metadata.TargetFiles
	var bestRel *release.Target
	for _, p := range paths {
		tf := targets[p]
		rel, why := m.eligible(tf, rec, true)
		if why != "" {
			c.Skipped = append(c.Skipped, Skip{p, why})
			continue
		}
		if best != nil {
			if cmp, _ := release.CompareVersions(rel.Version, bestRel.Version); cmp <= 0 {
				c.Skipped = append(c.Skipped, Skip{p, "a newer release is picked"})
				continue
			}
			c.Skipped = append(c.Skipped, Skip{best.Path, "a newer release is picked"})
		}
		best, bestRel = tf, rel
	}
	if best == nil {
		return c, nil, nil
	}
	c.Pick = newTarget(best, bestRel)
	return c, best, nil
}

// pickOffer is pick with offers: the offered release when it is newer
// than the installed one, or when it is older and the agent's own kept
// previous bundle (an explicit rollback: Record.Previous, the same target
// path, or none for the bundle the agent was installed with, and the same
// manifest digest). An offer that does not fit this rig (unfit), an older
// release that is not that bundle (a downgrade to a release the agent
// never ran, which the cloud's online keys or an operator could otherwise
// pick from every release ever signed), or another bundle at the
// installed version (semver precedence ignores +build metadata) is
// refused with ErrOffer and ErrIncompatible; any other refusal wraps
// ErrOffer only.
func (m *Manager) pickOffer(c *Check, targets map[string]*metadata.TargetFiles, rec *Record, o *cloudapi.Offer) (*Check, *metadata.TargetFiles, error) {
	if o == nil {
		return c, nil, nil
	}
	refuse := func(kind error, format string, args ...any) (*Check, *metadata.TargetFiles, error) {
		why := fmt.Sprintf(format, args...)
		c.Skipped = append(c.Skipped, Skip{o.Target, why})
		if kind != nil {
			return c, nil, fmt.Errorf("%w (%w): %s (version %s, rollout %d): %s", ErrOffer, kind, o.Target, o.Version, o.Rollout, why)
		}
		return c, nil, fmt.Errorf("%w: %s (version %s, rollout %d): %s", ErrOffer, o.Target, o.Version, o.Rollout, why)
	}
	tf, ok := targets[o.Target]
	if !ok {
		return refuse(nil, "not a target of the verified metadata")
	}
	rel, why := m.eligible(tf, rec, false)
	if rel != nil && rel.Version != o.Version {
		return refuse(nil, "its signed version %s is not the offered %s", rel.Version, o.Version)
	}
	if rel != nil {
		if unfit := m.unfit(rel); unfit != "" {
			return refuse(ErrIncompatible, "%s", unfit)
		}
	}
	if why != "" {
		return refuse(nil, "%s", why)
	}
	cmp, ok := release.CompareVersions(rel.Version, rec.Installed.Version)
	if !ok {
		return refuse(nil, "version %s cannot be compared with the installed %s", rel.Version, rec.Installed.Version)
	}
	switch {
	case sameRelease(rec.Installed, tf.Path, rel):
		c.Skipped = append(c.Skipped, Skip{o.Target, "offered and installed"})
		return c, nil, nil
	case cmp == 0:
		return refuse(ErrIncompatible, "version %s ranks equal to the installed %s (%s, manifest %s) but is another bundle (manifest %s; "+
			"semver ignores +build metadata): only a higher version replaces the installed one",
			rel.Version, rec.Installed.Version, installedName(rec.Installed), short(rec.Installed.ManifestDigest), short(rel.ManifestDigest))
	case cmp < 0 && !sameRelease(rec.Previous, tf.Path, rel):
		m.refuseDowngrade(o, rec)
		prev := "this agent keeps none"
		if p := rec.Previous; p != nil {
			prev = fmt.Sprintf("it is %s %s", installedName(p), p.Version)
		}
		return refuse(ErrIncompatible, "version %s is older than the installed %s and is not this agent's kept previous bundle (%s): "+
			"an offered downgrade only goes back to the bundle the agent ran before", rel.Version, rec.Installed.Version, prev)
	}
	c.Pick = newTarget(tf, rel)
	c.Pick.Rollout, c.Pick.Downgrade = o.Rollout, cmp < 0
	return c, tf, nil
}

// sameRelease reports whether b is the bundle of release rel at target
// path: the same manifest digest (which names every model file's digest),
// and the same target path, or none (the bundle the agent was installed
// with, model.bundle_dir). b nil is none.
func sameRelease(b *Bundle, path string, rel *release.Target) bool {
	return b != nil && b.ManifestDigest != "" && b.ManifestDigest == rel.ManifestDigest && (b.Path == path || b.Path == "")
}

// installedName names b's origin for a message: its target path, or
// model.bundle_dir.
func installedName(b *Bundle) string {
	if b.Path == "" {
		return "model.bundle_dir"
	}
	return b.Path
}

// short is a digest's first 12 characters, for messages.
func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// refuseDowngrade counts an offered downgrade refused (Status.DowngradesRefused)
// and logs it, once per offer (m.mu held).
func (m *Manager) refuseDowngrade(o *cloudapi.Offer, rec *Record) {
	if m.refusedDowngrade != nil && *m.refusedDowngrade == *o {
		return
	}
	c := *o
	m.refusedDowngrade = &c
	m.downgradesRefused++
	prev := ""
	if rec.Previous != nil {
		prev = rec.Previous.Version
	}
	m.log.Warn("update: offered downgrade refused: not the kept previous bundle", "target", o.Target, "version", o.Version,
		"rollout", o.Rollout, "installed", rec.Installed.Version, "previous", prev)
}

func newTarget(tf *metadata.TargetFiles, rel *release.Target) *Target {
	return &Target{Path: tf.Path, Length: tf.Length, SHA256: hex.EncodeToString(tf.Hashes["sha256"]), Release: rel}
}

// eligible says why tf cannot be installed on this rig ("" when it can,
// with its release metadata): its release metadata, rig type,
// firmware-config digest, hardware, precision, agent version, with
// newer a version above the installed one, its failed attempts, length
// and hash.
func (m *Manager) eligible(tf *metadata.TargetFiles, rec *Record, newer bool) (*release.Target, string) {
	rel, err := release.FromTargetFile(tf)
	if err != nil {
		return nil, err.Error()
	}
	if why := m.unfit(rel); why != "" {
		return rel, why
	}
	if newer {
		if c, ok := release.CompareVersions(rel.Version, rec.Installed.Version); !ok || c <= 0 {
			return rel, fmt.Sprintf("version %s is not newer than the installed %s (%v)", rel.Version, rec.Installed.Version, ErrRollback)
		}
	}
	if n := rec.Attempts[tf.Path]; n >= m.opts.MaxAttempts {
		return rel, fmt.Sprintf("given up after %d failed attempts", n)
	}
	if tf.Length <= 0 || tf.Length > m.opts.MaxBundleBytes {
		return rel, fmt.Sprintf("length %d is not in 1..%d (update.max_bundle_bytes)", tf.Length, m.opts.MaxBundleBytes)
	}
	if len(tf.Hashes["sha256"]) == 0 {
		return rel, "no sha256 hash"
	}
	return rel, ""
}

// unfit says why rel cannot run on this rig ("" when it can).
func (m *Manager) unfit(rel *release.Target) string {
	o := m.opts
	switch {
	case rel.RigType != o.RigType:
		return fmt.Sprintf("rig_type %q is not this rig's %q", rel.RigType, o.RigType)
	case rel.ConfigDigest != o.ConfigDigest:
		return fmt.Sprintf("config_digest %s is not this rig's firmware config %s", rel.ConfigDigest, o.ConfigDigest)
	case !slices.ContainsFunc(rel.Hardware, func(h string) bool { return slices.Contains(o.Hardware, h) }):
		return fmt.Sprintf("hardware [%s] does not include this machine's [%s]", strings.Join(rel.Hardware, ", "), strings.Join(o.Hardware, ", "))
	case o.Precision != "" && !slices.Contains(rel.Precisions, o.Precision):
		precs := make([]string, len(rel.Precisions))
		for i, p := range rel.Precisions {
			precs[i] = string(p)
		}
		return fmt.Sprintf("precisions [%s] do not include %s (model.precision)", strings.Join(precs, ", "), o.Precision)
	}
	if rel.MinAgentVersion != "" {
		if c, ok := release.CompareVersions(o.AgentVersion, rel.MinAgentVersion); !ok || c < 0 {
			return fmt.Sprintf("needs rig-agent %s or later, this is %q", rel.MinAgentVersion, o.AgentVersion)
		}
	}
	return ""
}

// targetURL is where the archive of tf is served: <url>/targets/<dir>/<sha256>.<name>
// (consistent snapshots, as shared/tufrepo writes them).
func (m *Manager) targetURL(tf *metadata.TargetFiles) string {
	sum := hex.EncodeToString(tf.Hashes["sha256"])
	dir, name := path.Split(tf.Path)
	return strings.TrimSuffix(m.opts.URL, "/") + "/targets/" + dir + sum + "." + name
}

// isCtx reports whether err comes from ctx ending.
func isCtx(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
