// Package exitcode holds the exit codes of hydrognn's long-running
// binaries (rig-agent, rig-cloud), one definition for both, so that the
// same code means the same thing on a rig and in the cloud, and their
// systemd units (deploy/systemd) can say which ones a restart does not
// mend.
//
//	return exitcode.Config // a config the binary refuses: not restarted
//
// The codes for what a restart does not mend are sysexits(3) values,
// none of which Go's runtime uses: an unrecovered panic, a fatal error (a
// deadlock, a stack overflow, a concurrent map write) and the default
// handling of SIGABRT, SIGQUIT and the like exit 2, the runtime's
// last-resort crashes 4 and 5 (shared/unitfiletest's
// GoRuntimeExitStatuses). A unit's RestartPreventExitStatus lists some
// of Usage, DataErr and Config, never 2: a crashed binary is restarted
// like any other failure (Failure). 2 is also the flag package's status
// for a bad flag: parse with flag.ContinueOnError and return Usage.
package exitcode
