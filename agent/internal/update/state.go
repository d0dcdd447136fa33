package update

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/release"
)

// StateName is the stable name of an update state, as stored in
// state.json and reported. Names never change meaning: a new state gets a
// new name.
type StateName string

// The states. Idle, Failed, Incompatible and Committed end a cycle; the
// others are steps of one.
const (
	Idle        StateName = "idle"         // nothing in progress; Installed serves
	Checking    StateName = "checking"     // refreshing TUF metadata and picking a release (never stored)
	Downloading StateName = "downloading"  // fetching the archive into a part file, resumable
	Verifying   StateName = "verifying"    // length and hashes (go-tuf), extraction, manifest checks
	Staged      StateName = "staged"       // extracted and checked beside the running bundle
	Canarying   StateName = "canary"       // the staged model on recent windows
	Committing  StateName = "committing"   // switching the current pointer and activating
	Committed   StateName = "committed"    // new model serving, under the watchdog until WatchUntil
	RollingBack StateName = "rolling_back" // switching back to Previous
	Failed      StateName = "failed"       // the last attempt failed (LastError); Installed serves
	// Incompatible: the offered release does not fit this rig (rig type,
	// firmware config, hardware, precision, agent version; an older
	// release that is not the kept previous bundle; another bundle at the
	// installed version) and was refused before any download, no attempt
	// counted (LastError says why); Installed serves. The cloud's rollout
	// leaves the agent out of its thresholds rather than count a failure.
	Incompatible StateName = "incompatible"
)

// StateNames lists every state, in the order of a cycle (for metrics
// that export one series per state).
var StateNames = []StateName{Idle, Checking, Downloading, Verifying, Staged, Canarying, Committing, Committed, RollingBack, Failed, Incompatible}

// recordFormat is the version of state.json's layout.
const recordFormat = 1

// Record is the updater's persisted state (<dir>/state.json), written
// atomically before every irreversible step.
type Record struct {
	Format int       `json:"format"`
	State  StateName `json:"state"`
	// Installed is the committed bundle the agent serves; Previous the
	// one before it, kept for a rollback (nil when there is none).
	Installed *Bundle `json:"installed"`
	Previous  *Bundle `json:"previous,omitempty"`
	// Target is the release in progress (nil when idle).
	Target *Target `json:"target,omitempty"`
	// Attempts counts failed attempts per target path; a target at
	// Options.MaxAttempts is no longer tried (a rolled-back one is set to
	// it). Entries for targets gone from the repository are dropped.
	Attempts map[string]int `json:"attempts,omitempty"`
	// WatchUntil ends the post-commit watch of Installed; WatchRestarts
	// counts agent starts during the watch.
	WatchUntil    time.Time `json:"watch_until,omitzero"`
	WatchRestarts int       `json:"watch_restarts,omitempty"`
	// Rollbacks counts the committed releases rolled back on this rig
	// (watchdog, restarts during the watch), for the API and the cloud.
	Rollbacks int `json:"rollbacks,omitempty"`
	// MetadataExpires is when the metadata Target was picked with expires
	// (the earliest of timestamp, snapshot and targets): no commit after.
	MetadataExpires time.Time `json:"metadata_expires,omitzero"`
	// Rollout is the id of the rollout whose offer the last check
	// followed (0: no offer, none said, or no offers: Options.Offers nil),
	// reported to the cloud with the state.
	Rollout int64 `json:"rollout,omitempty"`
	// Failed names the release whose attempt failed (or whose offer was
	// refused) while State is Failed, or the offered release that does not
	// fit this rig while State is Incompatible, so that the state is
	// reported with it (the cloud's rollout counts a failure against that
	// release, and leaves an incompatible agent out); while State is
	// Committed under the watch, the offered rollback refused (not the
	// kept previous bundle), reported to the cloud as incompatible; nil
	// in every other state.
	Failed *Failure `json:"failed,omitempty"`
	// LastError is the reason of the last failure, refusal or rollback.
	LastError string    `json:"last_error,omitempty"`
	Updated   time.Time `json:"updated"`
}

// Bundle is an installed model bundle.
type Bundle struct {
	Dir            string `json:"dir"`
	Version        string `json:"version"`
	ManifestDigest string `json:"manifest_digest"`
	// Path is the TUF target it came from ("" for the bundle the agent was
	// installed with).
	Path string `json:"path,omitempty"`
	// Rollout is the id of the rollout whose offer installed it (0: none
	// said, or no offers: Options.Offers nil).
	Rollout int64 `json:"rollout,omitempty"`
	// Downgrade is set when it was installed by an explicit rollback
	// (Target.Downgrade): the previous bundle is then the release the
	// operator is removing, which a failed watch never goes back to (see
	// Manager.rollbackTo).
	Downgrade bool `json:"downgrade,omitempty"`
}

// Failure is the release of a failed attempt (Record.Failed).
type Failure struct {
	// Path is its TUF target path.
	Path string `json:"path"`
	// Version is its signed version (for a refused offer: the offer's).
	Version string `json:"version,omitempty"`
	// Rollout is the id of the rollout that offered it (0: none said).
	Rollout int64 `json:"rollout,omitempty"`
}

// Target is the release being installed.
type Target struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
	// SHA256 is the signed hash, hex; it names the part file.
	SHA256  string          `json:"sha256"`
	Release *release.Target `json:"release"`
	// Staged is the extracted bundle's folder once Verifying is done.
	Staged string `json:"staged,omitempty"`
	// Rollout is the id of the rollout that offered it (0: none said, or
	// no offers).
	Rollout int64 `json:"rollout,omitempty"`
	// Downgrade is set when the offered release is older than the
	// installed model: an explicit rollback, the only case an older
	// release is installed (Options.Offers).
	Downgrade bool `json:"downgrade,omitempty"`
}

func (r *Record) clone() Record {
	c := *r
	if r.Installed != nil {
		b := *r.Installed
		c.Installed = &b
	}
	if r.Previous != nil {
		b := *r.Previous
		c.Previous = &b
	}
	if r.Target != nil {
		t := *r.Target
		c.Target = &t
	}
	if r.Failed != nil {
		f := *r.Failed
		c.Failed = &f
	}
	c.Attempts = make(map[string]int, len(r.Attempts))
	for k, v := range r.Attempts {
		c.Attempts[k] = v
	}
	return c
}

// loadRecord reads path; ok is false when it does not exist.
func loadRecord(path string) (rec *Record, ok bool, err error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	rec = &Record{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, false, fmt.Errorf("update state %s: %w (remove it to start over from model.bundle_dir)", path, err)
	}
	if rec.Format != recordFormat {
		return nil, false, fmt.Errorf("update state %s: format %d is not %d", path, rec.Format, recordFormat)
	}
	if rec.Installed == nil || rec.Installed.Dir == "" {
		return nil, false, fmt.Errorf("update state %s: no installed bundle", path)
	}
	if rec.Attempts == nil {
		rec.Attempts = map[string]int{}
	}
	// Agents before Bundle.Downgrade stored an explicit rollback without
	// it. A committed (or rolling back) bundle older than its previous one
	// is one: nothing else installs an older release in those states (the
	// fallback of Open leaves idle).
	if (rec.State == Committed || rec.State == RollingBack) && rec.Previous != nil && !rec.Installed.Downgrade {
		if c, ok := release.CompareVersions(rec.Previous.Version, rec.Installed.Version); ok && c > 0 {
			rec.Installed.Downgrade = true
		}
	}
	return rec, true, nil
}

// saveRecord writes rec to path atomically and durably.
func saveRecord(path string, rec *Record) error {
	rec.Format = recordFormat
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(path, append(b, '\n'))
}

// writeFileSync writes b to name through a temporary file that is synced,
// renamed into place, and the folder synced, so a crash leaves either the
// old or the new content.
func writeFileSync(name string, b []byte) error {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	err = durable.SyncClose(tmp, err)
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err == nil {
		err = durable.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
