package main

import "github.com/hydrognn/hydrognn/shared/exitcode"

// Exit codes of rig-agent (and rig-agent enroll), shared/exitcode's (one
// definition with rig-cloud's). The codes a restart does not mend are
// sysexits(3) values, none of which Go's runtime uses: an unrecovered
// panic, a fatal error (a deadlock, a stack overflow, a concurrent map
// write) and the default handling of SIGABRT, SIGQUIT and the like all
// exit 2 (the runtime's last-resort crashes 4 and 5), and a crashed agent
// must be restarted by the unit (deploy/systemd/rig-agent.service,
// Restart=always). The unit's RestartPreventExitStatus lists exactly
// restartPrevented (TestUnitRestartsOnGoRuntimeExits).
const (
	exitOK      = exitcode.OK      // 0: a clean stop, or --check/--check-model/--version/--help done
	exitFailure = exitcode.Failure // 1: the start failed or a part failed while running: restarted
	exitUsage   = exitcode.Usage   // 64 EX_USAGE: a bad command line (a flag, an argument, the --window file)
	exitStore   = exitcode.DataErr // 65 EX_DATAERR: a damaged store (buffer, history or outbox): an operator moves it aside
	exitConfig  = exitcode.Config  // 78 EX_CONFIG: a config Load or the start refuses
)

// restartPrevented are the exit codes a restart does not mend, in
// ascending order: the unit's RestartPreventExitStatus.
var restartPrevented = []int{exitUsage, exitStore, exitConfig}
