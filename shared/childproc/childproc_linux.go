package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes cmd's process receive SIGKILL when this process
// dies. Call it before cmd.Start; it keeps the rest of cmd.SysProcAttr.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
