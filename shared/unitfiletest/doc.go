// Package unitfiletest reads systemd unit files and drop-ins, for the
// tests that check those of deploy/systemd against the binaries they
// start (rig-agent's and rig-cloud's).
//
//	u := unitfiletest.Read(t, "../../../deploy/systemd/rig-agent.service")
//	u.Values("DynamicUser")          // []string{"yes"}
//	u.InstallMode(t, "/etc/x.yaml")  // the -m of the header's install line
//	u.RestartPreventExitStatus(t)    // []int{64, 65, 78}, no signals
//
// GoRuntimeExitStatuses are the statuses of a crashed Go program (a
// panic exits 2), which no unit's RestartPreventExitStatus may list.
// CheckRestartPolicy checks a unit's list against the binary's codes and
// its doc; Crash and CheckCrashesRestarted make the test binary, started
// as the unit starts the binary, crash each way Go's runtime can
// (CrashKinds) and check that the unit restarts it:
//
//	prevented := u.CheckRestartPolicy(t, restartPrevented, []int{0, 1}, "../../../docs/agent.md")
//	unitfiletest.CheckCrashesRestarted(t, "agent", args, nil, crashEnv, prevented)
//
// It is for tests only.
package unitfiletest
