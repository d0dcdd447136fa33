package tufrepo

import (
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// groupOrOthers are the permission bits that let anyone but the owner
// into a keys folder or read a key file.
const groupOrOthers fs.FileMode = 0o077

// modeChecked says whether file modes mean anything here (not on
// Windows, where Go reports 0666 or 0777 whatever the ACLs say).
var modeChecked = runtime.GOOS != "windows"

// checkKeysDirMode refuses keysDir, an existing folder, when group or
// others may access it (Init for any existing folder; Open, ResignTargets
// and SignRelease with Options.StrictKeyModes), naming it, its mode and
// the fix. A folder that does not exist passes.
func checkKeysDirMode(keysDir string) error {
	if !modeChecked {
		return nil
	}
	fi, err := os.Stat(keysDir)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return fmt.Errorf("%w: keys folder: %w", ErrKeys, err)
	case !fi.IsDir():
		return fmt.Errorf("%w: the keys folder %s is not a folder", ErrKeys, keysDir)
	}
	if m := fi.Mode().Perm(); m&groupOrOthers != 0 {
		return fmt.Errorf("%w: the keys folder %s is mode %04o: group or others may access it; make it private (chmod 700 %s) or use a new folder",
			ErrKeys, keysDir, m, keysDir)
	}
	return nil
}

// checkKeyFileMode refuses the private key file p (mode m) when group
// or others may read it, as ssh does.
func checkKeyFileMode(p string, m fs.FileMode) error {
	if !modeChecked {
		return nil
	}
	if m.Perm()&groupOrOthers != 0 {
		return fmt.Errorf("%w: the private key %s is mode %04o: group or others may read it; make it private (chmod 600 %s)",
			ErrKeys, p, m.Perm(), p)
	}
	return nil
}
