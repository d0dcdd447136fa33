package api

import (
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// UpdateStatus is the model-update state in /status and /bundle
// (agent/internal/update, docs/releases.md).
type UpdateStatus struct {
	// State is the state machine's stable state name (idle, downloading,
	// verifying, staged, canary, committing, committed, rolling_back,
	// failed, incompatible).
	State string `json:"state"`
	// Installed is the release serving (path "": the bundle the agent was
	// installed with); Previous the one a rollback returns to.
	Installed UpdateBundle  `json:"installed"`
	Previous  *UpdateBundle `json:"previous,omitempty"`
	// Target is the release in progress (absent when none).
	Target *UpdateTarget `json:"target,omitempty"`
	// Attempts counts failed attempts per release path (given up at
	// update.max_attempts).
	Attempts map[string]int `json:"attempts,omitempty"`
	// Rollbacks counts committed releases rolled back on this rig.
	Rollbacks int `json:"rollbacks"`
	// WatchUntil ends the watch of a just committed model; WatchRuns,
	// WatchErrors and WatchSlow count its runs during the watch.
	WatchUntil  *time.Time `json:"watch_until,omitempty"`
	WatchRuns   int        `json:"watch_runs,omitempty"`
	WatchErrors int        `json:"watch_errors,omitempty"`
	WatchSlow   int        `json:"watch_slow,omitempty"`
	// LastError is why the last attempt failed or was rolled back.
	LastError string `json:"last_error,omitempty"`
	// LastCheck is when the TUF metadata was last refreshed, and Skipped
	// the releases that check passed over and why.
	LastCheck *time.Time    `json:"last_check,omitempty"`
	Skipped   []update.Skip `json:"skipped,omitempty"`
	// Offer is the release the cloud offered at the last check (absent:
	// none, or no cloud link); Rollout the rollout whose offer that check
	// followed (0: none).
	Offer   *cloudapi.Offer `json:"offer,omitempty"`
	Rollout int64           `json:"rollout,omitempty"`
	// Retries counts the update cycles in a row that a transient error
	// ended (the repository unreachable, a download cut); NextRetry is
	// when the updater tries again, after its short backoff (absent: no
	// retry pending, the next cycle at the next check).
	Retries   int        `json:"retries,omitempty"`
	NextRetry *time.Time `json:"next_retry,omitempty"`
	// Updated is when the state was last stored.
	Updated time.Time `json:"updated"`
}

// UpdateBundle is an installed release.
type UpdateBundle struct {
	Version string `json:"version"`
	Path    string `json:"path,omitempty"`
	Dir     string `json:"dir"`
}

// UpdateTarget is the release in progress.
type UpdateTarget struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Length  int64  `json:"length"`
	Staged  bool   `json:"staged"`
}

// UpdateStatusOf converts the updater's snapshot.
func UpdateStatusOf(st update.Status) *UpdateStatus {
	u := &UpdateStatus{State: string(st.State), Attempts: st.Attempts, Rollbacks: st.Rollbacks,
		WatchUntil: timePtr(st.WatchUntil), LastError: st.LastError, Updated: st.Updated.UTC(),
		Retries: st.Retries, NextRetry: timePtr(st.NextRetry)}
	if b := st.Installed; b != nil {
		u.Installed = UpdateBundle{Version: b.Version, Path: b.Path, Dir: b.Dir}
	}
	if b := st.Previous; b != nil {
		u.Previous = &UpdateBundle{Version: b.Version, Path: b.Path, Dir: b.Dir}
	}
	if t := st.Target; t != nil {
		u.Target = &UpdateTarget{Path: t.Path, Length: t.Length, Staged: t.Staged != ""}
		if t.Release != nil {
			u.Target.Version = t.Release.Version
		}
	}
	if st.State == update.Committed {
		u.WatchRuns, u.WatchErrors, u.WatchSlow = st.WatchRuns, st.WatchErrors, st.WatchSlow
	}
	if c := st.LastCheck; c != nil {
		u.LastCheck = timePtr(c.At)
		u.Skipped = c.Skipped
		u.Offer = c.Offer
	}
	u.Rollout = st.Rollout
	if len(u.Attempts) == 0 {
		u.Attempts = nil
	}
	return u
}

// updateStatus returns the update state (nil without updates).
func (s *Server) updateStatus() *UpdateStatus {
	if s.opts.Update == nil {
		return nil
	}
	return UpdateStatusOf(s.opts.Update.Status())
}
