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
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
