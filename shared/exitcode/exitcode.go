package exitcode

// The exit codes. Each binary says which of them it uses for what
// (rig-agent's and rig-cloud's exitcodes.go) and its unit's
// RestartPreventExitStatus lists exactly those a restart does not mend
// (their TestUnitRestartsOnGoRuntimeExits).
const (
	// OK: done, or a clean stop on SIGINT or SIGTERM.
	OK = 0
	// Failure: a failure at run time that a restart may mend (a database
	// or broker not up yet, a part that failed): the unit restarts it.
	Failure = 1
	// Usage is EX_USAGE: a bad command line (a flag, an argument).
	Usage = 64
	// DataErr is EX_DATAERR: stored data the binary cannot use and a
	// restart runs into again (rig-agent: a damaged buffer, history or
	// outbox; rig-cloud: an applied migration that differs from the
	// binary's).
	DataErr = 65
	// Config is EX_CONFIG: a config the binary refuses, when it is loaded
	// or at the start.
	Config = 78
)
