// Package childproc ties helper processes to the process that starts
// them, so a test or benchmark killed by a timeout (or by kill -9) does
// not leave brokers, servers or agents running behind it.
//
//	cmd := exec.Command(bin, "serve")
//	childproc.DieWithParent(cmd)
//	err := cmd.Start()
//
// On Linux the child gets SIGKILL when its parent dies (prctl
// PR_SET_PDEATHSIG, through SysProcAttr.Pdeathsig). Strictly, the kernel
// sends it when the OS thread that started the child exits; the Go
// runtime does not end threads of a running program except those of
// goroutines that exit while locked with runtime.LockOSThread, so do not
// start children from such a goroutine. On other systems DieWithParent
// does nothing.
package childproc
