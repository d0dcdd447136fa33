package durable

import (
	"fmt"
	"os"
)

// SyncDir syncs folder dir (fsync), making the creations, renames, links
// and removals in it durable. Errors name the folder.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	err = SyncClose(d, nil)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// SyncClose ends the writing of f, whose writes returned err: when err is
// nil it syncs f (fsync) so that what was written survives a crash or a
// power cut, then it closes f either way. It returns err, or else the
// sync's or the close's error. A file that must be on disk before it is
// renamed into place or reported written is closed with it:
//
//	_, err = f.Write(b)
//	if err = durable.SyncClose(f, err); err != nil { ... }
func SyncClose(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
