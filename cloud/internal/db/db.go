package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune the pool; zero fields take the pgxpool defaults noted.
type Options struct {
	// MaxConns caps the pool (0: pgxpool's default, max(4, CPUs)).
	MaxConns int32
	// MinConns is kept open when idle (0: none).
	MinConns int32
	// ConnectTimeout bounds the first connection and ping (0: 10s).
	ConnectTimeout time.Duration
	// AppName is sent as application_name ("" : "rig-cloud").
	AppName string
}

// ErrURL is matched by errors.Is on Open's error for a URL that cannot be
// parsed: no retry mends it.
var ErrURL = errors.New("database url: cannot be parsed as a PostgreSQL URL or key=value DSN")

// Open connects a pool to url and pings it. The error never contains the
// URL (it may hold a password); it names the host, port and database
// when the connection fails.
func Open(ctx context.Context, url string, o Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse error may quote the URL, password included: say
		// only what is needed.
		return nil, ErrURL
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > 0 {
		cfg.MinConns = o.MinConns
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	if o.AppName == "" {
		o.AppName = "rig-cloud"
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = o.AppName
	// Times are stored and read as UTC.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	pctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}
