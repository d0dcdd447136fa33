package update

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
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

	"github.com/hydrognn/hydrognn/shared/release"
)

// fetcher is go-tuf's metadata fetcher on the Manager's HTTP client, bound
// to one cycle's context (it lives for one Refresh, never stored in the
// Manager).
type fetcher struct {
	ctx     context.Context
	client  *http.Client
	timeout time.Duration
	budget  Budget // nil: none
}

// DownloadFile implements go-tuf's fetcher.Fetcher: GET url, at most
// maxLength bytes, a non-200 status as metadata.ErrDownloadHTTP (go-tuf
// reads a 404 on N.root.json as "no newer root").
func (f *fetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := f.client.Do(req)
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
	if f.budget != nil {
		f.budget.Spend(int64(len(b)))
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is more than %d bytes", url, maxLength)}
	}
	return b, nil
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
		cfg.Fetcher = &fetcher{ctx: ctx, client: m.opts.HTTPClient, timeout: m.opts.RequestTimeout, budget: m.opts.Budget}
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
// (nil when none is newer and fit for this rig) and the ones passed over.
type Check struct {
	At      time.Time
	Pick    *Target
	Skipped []Skip
}

// pick chooses the newest release for this rig (rig type, firmware-config
// digest, hardware, agent version) newer than the installed model and not
// given up on, from the refreshed targets.
func (m *Manager) pick(s *session, rec *Record) (*Check, *metadata.TargetFiles) {
	c := &Check{At: m.opts.Now()}
	targets := s.u.GetTopLevelTargets()
	paths := make([]string, 0, len(targets))
	for p := range targets {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var best *metadata.TargetFiles
	var bestRel *release.Target
	for _, p := range paths {
		tf := targets[p]
		rel, err := release.FromTargetFile(tf)
		if err != nil {
			c.Skipped = append(c.Skipped, Skip{p, err.Error()})
			continue
		}
		if why := m.unfit(rel, rec); why != "" {
			c.Skipped = append(c.Skipped, Skip{p, why})
			continue
		}
		if n := rec.Attempts[p]; n >= m.opts.MaxAttempts {
			c.Skipped = append(c.Skipped, Skip{p, fmt.Sprintf("given up after %d failed attempts", n)})
			continue
		}
		if tf.Length <= 0 || tf.Length > m.opts.MaxBundleBytes {
			c.Skipped = append(c.Skipped, Skip{p, fmt.Sprintf("length %d is not in 1..%d (update.max_bundle_bytes)", tf.Length, m.opts.MaxBundleBytes)})
			continue
		}
		if len(tf.Hashes["sha256"]) == 0 {
			c.Skipped = append(c.Skipped, Skip{p, "no sha256 hash"})
			continue
		}
		if best != nil {
			if cmp, _ := compareVersions(rel.Version, bestRel.Version); cmp <= 0 {
				c.Skipped = append(c.Skipped, Skip{p, "a newer release is picked"})
				continue
			}
			c.Skipped = append(c.Skipped, Skip{best.Path, "a newer release is picked"})
		}
		best, bestRel = tf, rel
	}
	// Forget the attempts of targets no longer published.
	for p := range rec.Attempts {
		if _, ok := targets[p]; !ok {
			delete(rec.Attempts, p)
		}
	}
	if best == nil {
		return c, nil
	}
	c.Pick = &Target{Path: best.Path, Length: best.Length, SHA256: hex.EncodeToString(best.Hashes["sha256"]), Release: bestRel}
	return c, best
}

// unfit says why rel cannot replace the installed model ("" when it can).
func (m *Manager) unfit(rel *release.Target, rec *Record) string {
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
		if c, ok := compareVersions(o.AgentVersion, rel.MinAgentVersion); !ok || c < 0 {
			return fmt.Sprintf("needs rig-agent %s or later, this is %q", rel.MinAgentVersion, o.AgentVersion)
		}
	}
	if c, ok := compareVersions(rel.Version, rec.Installed.Version); !ok || c <= 0 {
		return fmt.Sprintf("version %s is not newer than the installed %s (%v)", rel.Version, rec.Installed.Version, ErrRollback)
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
