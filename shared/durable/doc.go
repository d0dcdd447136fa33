// Package durable makes changes to a folder's entries survive a crash or
// a power cut: a file created, renamed, linked or removed in a folder is
// on disk only once the folder itself is synced.
//
//	if err := os.Rename(tmp, path); err != nil { ... }
//	if err := durable.SyncDir(filepath.Dir(path)); err != nil { ... }
package durable
