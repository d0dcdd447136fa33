// Package blob is rig-cloud's store of large objects (data set archives,
// trained bundles): the contract any implementation keeps, and FS, the
// filesystem implementation (blob.dir).
//
// # Contract
//
// Objects are named by keys: 1-512 bytes of [A-Za-z0-9._-] segments
// separated by "/", no segment "." or ".." (ValidKey). An implementation
// (FS here; an S3-compatible bucket with PutObject/GetObject/HeadObject/
// DeleteObject/ListObjectsV2, where a multipart upload gives the atomic Put) must:
//
//   - Put: store everything r yields under key, replacing any object of
//     that name, atomically: readers see the old object or the whole new
//     one, never a part. More than the store's cap (MaxBytes) fails with
//     ErrTooLarge and stores nothing; a failed read of r or a cancelled
//     ctx stores nothing. It returns the size and the SHA-256 of what it
//     stored.
//   - Get: stream the object; the caller closes the reader. A missing key
//     is ErrNotFound. Reads fail with ctx's error once ctx ends.
//   - Stat: size and modification time without reading; ErrNotFound.
//   - Delete: remove the object; a missing key is not an error.
//   - Walk: call fn with the Info (key, size, modification time; no
//     SHA256) of each object whose key starts with prefix, in no set
//     order; an error of fn stops the walk and is returned. Objects put
//     or deleted during the walk may or may not be seen; Put's
//     temporary files never are. Walk is how orphans are found (the
//     blob sweep of `rig-cloud worker`, cloud/internal/blobgc): an S3
//     bucket implements it with ListObjectsV2 (Prefix, paged by
//     ContinuationToken; LastModified is the modification time).
//   - be safe for concurrent use by many goroutines and processes (several
//     rig-cloud replicas and workers share one store).
//
// blobtest.Run checks these rules against any implementation.
//
// The database names the objects (their keys are in the datasets and
// training_jobs rows); the store knows nothing of organisations. Every
// key rig-cloud writes starts with "orgs/<org id>/".
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound is returned when no object has the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrTooLarge is returned by Put when the object is larger than the
	// store's cap; nothing is stored.
	ErrTooLarge = errors.New("blob: object larger than the store's cap")
	// ErrBadKey is returned for a key ValidKey refuses.
	ErrBadKey = errors.New("blob: invalid key")
)

// Store is the contract above. Consumers declare the subset they use.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	Stat(ctx context.Context, key string) (Info, error)
	Delete(ctx context.Context, key string) error
	Walk(ctx context.Context, prefix string, fn func(Info) error) error
}

// Info describes a stored object.
type Info struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// SHA256 is "sha256:<hex>" of the content; set by Put (Get and Stat
	// may leave it empty: keep Put's in the database).
	SHA256  string    `json:"sha256,omitempty"`
	ModTime time.Time `json:"mod_time"`
}

// MaxKeyLen caps a key.
const MaxKeyLen = 512

// ValidKey reports whether key is a valid object name.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				return false
			}
		}
	}
	return true
}
