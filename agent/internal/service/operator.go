package service

import (
	"errors"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/forward"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
)

// StoreDamaged reports whether err, of Start or Failed, is a damaged
// store: the reading buffer, the diagnosis history or the cloud outbox
// refused their file (ErrCorrupt, with the command that moves it aside).
// A restart does not mend it; rig-agent exits 65 (EX_DATAERR) for it,
// which the unit does not restart (RestartPreventExitStatus).
func StoreDamaged(err error) bool {
	return errors.Is(err, buffer.ErrCorrupt) || errors.Is(err, history.ErrCorrupt) || errors.Is(err, forward.ErrCorrupt)
}

// ConfigRefused reports whether err of Start is a config the start
// refused (what config.Load cannot see: an empty broker.password_file,
// sensors the ingest cannot subscribe to). rig-agent exits 78 for it, as
// for a config Load refuses. A codec plugin whose executable is missing
// or unreadable (plugin.ErrNotFound) is not: its folder may be mounted,
// or its package installed, a moment after the agent starts, so the
// start fails as any other (exit 1, restarted) and --check reports it.
func ConfigRefused(err error) bool {
	if errors.Is(err, plugin.ErrNotFound) {
		return false
	}
	return errors.Is(err, config.ErrInvalid) || errors.Is(err, ingest.ErrConfig)
}
