//go:build unix

package unitfiletest

import (
	"os"
	"syscall"
)

// sigabrt sends the process SIGABRT (Crash's sigabrt kind).
func sigabrt() error {
	return syscall.Kill(os.Getpid(), syscall.SIGABRT)
}
