package main

import (
	"errors"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/shared/exitcode"
)

// Exit codes of rig-cloud, shared/exitcode's: the same code means the
// same as rig-agent's. The codes a restart does not mend are sysexits(3)
// values, none of which Go's runtime uses: an unrecovered panic, a fatal
// error and the default handling of SIGABRT, SIGQUIT and the like exit 2
// (the runtime's last-resort crashes 4 and 5), and a crashed instance
// must be restarted by the unit (deploy/systemd/rig-cloud@.service,
// Restart=always). The unit's RestartPreventExitStatus lists exactly
// restartPrevented (TestUnitRestartsOnGoRuntimeExits).
//
// What a restart may mend exits 1: a database that cannot be reached
// yet, a listener's address in use, migrations pending with
// database.migrate false (another host may run rig-cloud migrate), a
// schema newer than this binary's (no error: a replica of the previous
// version keeps serving while a newer one has migrated).
const (
	exitOK      = exitcode.OK      // 0: done, a clean stop, -h
	exitFailure = exitcode.Failure // 1: a failure at run time: restarted
	exitUsage   = exitcode.Usage   // 64 EX_USAGE: a bad command line
	exitSchema  = exitcode.DataErr // 65 EX_DATAERR: an applied migration differs from this binary's (db.ErrChecksum)
	exitConfig  = exitcode.Config  // 78 EX_CONFIG: a config Load or the start refuses (config.ErrInvalid)
)

// restartPrevented are the exit codes a restart does not mend, in
// ascending order: the unit's RestartPreventExitStatus.
var restartPrevented = []int{exitUsage, exitSchema, exitConfig}

// failureCode is the exit code for err of a command that read its
// config: exitConfig for a config refused at the start, exitSchema for
// an applied migration the binary's differs from (every start runs into
// it again, until the binary of that schema is installed), else
// exitFailure (restarted).
func failureCode(err error) int {
	switch {
	case errors.Is(err, config.ErrInvalid):
		return exitConfig
	case errors.Is(err, db.ErrChecksum):
		return exitSchema
	}
	return exitFailure
}
