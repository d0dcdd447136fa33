package infer

import (
	"context"
	"fmt"
	"io"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// OpenContext is Open, abandoned when ctx is done first: it returns
// ctx's error (wrapped) at once, and the Open still running goes on on
// its own goroutine; the Model it opens late is closed as soon as it is
// open. Open itself cannot be interrupted: with the TensorRT provider it
// builds the model's engine, which takes minutes on a Jetson, and a stop
// of the agent must not wait for that.
func OpenContext(ctx context.Context, dir string, cfg *rig.Config, opts Options) (*Model, error) {
	m, err := openAbandonable(ctx, func() (*Model, error) { return Open(dir, cfg, opts) })
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("infer: open %s given up: %w", dir, err)
	}
	return m, err
}

// openAbandonable runs open on a goroutine and returns its result, or
// ctx's error when ctx is done first; then what open returns later is
// closed.
func openAbandonable[T io.Closer](ctx context.Context, open func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result) // unbuffered: taken by the caller, or closed below
	abandoned := make(chan struct{})
	go func() {
		v, err := open()
		select {
		case done <- result{v, err}:
		case <-abandoned:
			if err == nil {
				_ = v.Close()
			}
		}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		close(abandoned)
		// The open may be finishing: its goroutine then closes what it
		// opened (abandoned), unless it handed it over here first.
		select {
		case r := <-done:
			if r.err == nil {
				_ = r.v.Close()
			}
		default:
		}
		return zero, ctx.Err()
	}
}
