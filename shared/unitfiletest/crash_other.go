//go:build !unix

package unitfiletest

import "errors"

// sigabrt cannot send SIGABRT where there is none (not on Unix), so that
// the module still builds there.
func sigabrt() error {
	return errors.New("no SIGABRT on this system")
}
