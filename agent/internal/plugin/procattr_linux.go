package plugin

import "syscall"

// procAttr is how a plugin process is started: the leader of its own
// process group (killGroup), and sent SIGKILL by the kernel when the agent
// dies (Pdeathsig), so that a plugin never outlives an agent that could
// not close it (killed, crashed): go-plugin's plugin side ends only when
// asked to, and Serve ignores SIGTERM. Pdeathsig fires when the thread
// that started the process ends; Go ends a thread only when a goroutine
// locked to it (runtime.LockOSThread) returns, which no goroutine that
// starts plugins does.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
