package blobtest

import (
	"context"
	"io"
	"strings"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
)

// HeldPut is a blob.FS whose Put of a key containing Match first closes
// Putting and then waits until Release is closed: a test holds a worker
// at the moment it stores a result (to stop it there). Make it with
// NewHeldPut; only the first matching Put may be held (Putting is closed
// once).
type HeldPut struct {
	*blob.FS
	Match   string
	Putting chan struct{}
	Release chan struct{}
}

// NewHeldPut wraps fs, holding the Put of keys containing match.
func NewHeldPut(fs *blob.FS, match string) *HeldPut {
	return &HeldPut{FS: fs, Match: match, Putting: make(chan struct{}), Release: make(chan struct{})}
}

// Put holds a matching key's Put (see HeldPut), then stores through FS.
func (h *HeldPut) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	if strings.Contains(key, h.Match) {
		close(h.Putting)
		<-h.Release
	}
	return h.FS.Put(ctx, key, r)
}
