//go:build !linux

package childproc

import "os/exec"

// DieWithParent does nothing on this system (see the package doc).
func DieWithParent(cmd *exec.Cmd) {}
