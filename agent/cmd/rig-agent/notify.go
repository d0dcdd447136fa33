package main

import (
	"fmt"
	"net"
	"os"
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
