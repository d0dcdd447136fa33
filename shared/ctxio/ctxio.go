package ctxio

import (
	"context"
	"io"
)

// Reader returns r whose Read fails with ctx's error once ctx has ended
// (checked before each Read: io.Copy reads 32 KiB at a time). It hides
// any io.WriterTo of r, so a copy goes through Read.
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
