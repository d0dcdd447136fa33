package authcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// Backoff of Listen's reconnections: the first wait, doubled after each
// failure up to the cap, each one jittered down to half.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 10 * time.Second
)

// pingTimeout bounds the heartbeat query.
const pingTimeout = 5 * time.Second

// Listen holds one connection of pool LISTENing on store.RevokedChannel
// and flushes c at each notification, until ctx ends; then it closes the
// connection (it never goes back to the pool) and returns. While Listen
// listens, c serves entries; before, between connections (reconnecting
// with capped, jittered backoff) and after, it serves none. The
// connection is one of the pool's, held while Listen runs: the pool needs
// at least one more for requests, and must be closed only after Listen
// has returned. Run one Listen per Cache; log gets a line per lost
// connection (nil: discarded).
func (c *Cache) Listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wait := backoffMin
	for ctx.Err() == nil {
		listened, err := c.listenOnce(ctx, pool, log)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait = backoffMin
		}
		log.Warn("auth cache listener disconnected; credentials are looked up in the database until it reconnects",
			"err", err, "retry_in", wait.String())
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, backoffMax)
	}
}

// listenOnce acquires a connection, listens until it fails or ctx ends,
// and closes it. listened: LISTEN succeeded (the cache served entries).
func (c *Cache) listenOnce(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (listened bool, err error) {
	down := false
	defer c.flush(ReasonListener, &down)
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire a connection: %w", err)
	}
	// A listening session never serves another query: closed, then
	// released (the pool drops a closed connection and may open another).
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = pc.Conn().Close(cctx)
		pc.Release()
	}()
	conn := pc.Conn()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{store.RevokedChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen on %s: %w", store.RevokedChannel, err)
	}
	// Notifications sent before LISTEN are lost: start afresh.
	up := true
	c.flush(ReasonListener, &up)
	log.Info("auth cache listening for revocations", "channel", store.RevokedChannel, "ttl", c.opt.TTL.String())
	for {
		wctx, cancel := context.WithTimeout(ctx, c.opt.Heartbeat)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			c.flush(ReasonNotify, nil)
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return true, fmt.Errorf("wait for a notification: %w", err)
		}
		// Nothing for a Heartbeat: is the connection still there?
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		_, err = conn.Exec(pctx, "SELECT 1")
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("heartbeat: %w", err)
		}
	}
}
