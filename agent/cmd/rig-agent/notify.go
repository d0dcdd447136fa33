package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
)

// sdNotify sends state (READY=1, STOPPING=1, ...) to systemd's
// notification socket, $NOTIFY_SOCKET, as sd_notify(3) does: a unit of
// Type=notify counts as started only after READY=1. Without the variable
// (not under systemd, or another Type=) it does nothing.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("systemd notify socket %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("systemd notify socket %s: send %s: %w", os.Getenv("NOTIFY_SOCKET"), state, err)
	}
	return nil
}

// maxWatchdogEvery caps the time between two feeds of the watchdog.
const maxWatchdogEvery = 10 * time.Second

// watchdogEvery returns how often to judge the loops and send WATCHDOG=1:
// a quarter of $WATCHDOG_USEC, which systemd sets for a unit with
// WatchdogSec=, at most maxWatchdogEvery, when $WATCHDOG_PID is unset or
// this process's pid (sd_watchdog_enabled(3)); 0: no watchdog. Fed that
// often, a feed skipped for a stall seen once leaves systemd's deadline
// far off, and a stall ends the feeds within 10 s of agent.stall_after:
// systemd kills after the stall lasted about agent.stall_after plus
// WatchdogSec.
func watchdogEvery() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil // meant for another process
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("systemd watchdog: WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
	}
	return min(time.Duration(n)*time.Microsecond/4, maxWatchdogEvery), nil
}

// feedWatchdog sends WATCHDOG=1 every interval until ctx is done, but
// only while stalled returns no loop: systemd then kills and restarts
// the agent after WatchdogSec= (a hung ingest, inference or store). It
// logs when it stops feeding and when it feeds again.
func feedWatchdog(ctx context.Context, every time.Duration, stalled func() []liveness.Loop, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	starving := false
	for {
		if st := stalled(); len(st) > 0 {
			if !starving {
				names := make([]string, len(st))
				for i, l := range st {
					names[i] = l.Name + " (since " + l.LastBeat.UTC().Format(time.RFC3339) + ")"
				}
				log.Error("loops stalled: no longer feeding the systemd watchdog, which restarts the agent if they stay stalled",
					"stalled", strings.Join(names, ", "))
				starving = true
			}
		} else {
			if starving {
				log.Warn("no loop stalled any more: feeding the systemd watchdog again")
				starving = false
			}
			if err := sdNotify("WATCHDOG=1"); err != nil {
				log.Warn("could not feed the systemd watchdog", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
