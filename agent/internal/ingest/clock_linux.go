//go:build linux

package ingest

import "golang.org/x/sys/unix"

// kernelClockSynced reports whether the kernel holds the system clock for
// synchronised: adjtimex(2) without STA_UNSYNC, which NTP daemons (chrony,
// ntpd, systemd-timesyncd) clear once they disciplined the clock and the
// kernel sets again when they stop. It reports true when the call fails
// (the kernel cannot tell): the future check then stays on.
func kernelClockSynced() bool {
	var tx unix.Timex // modes 0: read only, no privilege needed
	if _, err := unix.Adjtimex(&tx); err != nil {
		return true
	}
	return tx.Status&unix.STA_UNSYNC == 0
}
