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
//
// It is for tests only.
package unitfiletest
