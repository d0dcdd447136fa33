//go:build !linux

package plugin

import "syscall"

// procAttr is how a plugin process is started: the leader of its own
// process group (killGroup). Only Linux has Pdeathsig: elsewhere a plugin
// outlives an agent that dies without closing it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
