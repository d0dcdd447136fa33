// Package durable makes files and changes to a folder's entries survive a
// crash or a power cut: a file's content is on disk only once the file
// is synced (SyncClose, in place of Close), and a file created, renamed,
// linked or removed in a folder only once the folder itself is synced
// (SyncDir).
//
//	_, err = tmp.Write(b)
//	if err := durable.SyncClose(tmp, err); err != nil { ... }
//	if err := os.Rename(tmp.Name(), path); err != nil { ... }
//	if err := durable.SyncDir(filepath.Dir(path)); err != nil { ... }
package durable
