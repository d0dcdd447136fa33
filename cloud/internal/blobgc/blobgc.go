package blobgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
)

// Prefix is where every key rig-cloud writes starts ("orgs/<org id>/...";
// see package blob): nothing else in the store is ever swept.
const Prefix = "orgs/"

// LockKey is the advisory lock a sweep holds ("blob_gc").
const LockKey int64 = 0x626c6f625f6763

// SafetyMargin is added to the longest upload to make the default MinAge
// (clocks apart on a shared volume, a row committed late).
const SafetyMargin = 24 * time.Hour

// MinAge is the age past which an unreferenced object is swept, for a
// store whose uploads last at most uploadTimeout (blob.upload_timeout).
func MinAge(uploadTimeout time.Duration) time.Duration { return SafetyMargin + uploadTimeout }

// Column is a database column that holds blob keys.
type Column struct{ Table, Column string }

// References lists every column that names blob objects: an object whose
// key one of them holds is never swept. A migration that adds such a
// column must add it here (TestReferencesCoverTheSchema checks the
// schema's *_key and *blob* columns).
var References = []Column{
	{"datasets", "blob_key"},           // a data set's archive
	{"training_jobs", "artifact_key"},  // a job's trained bundle
	{"model_versions", "artifact_key"}, // a registered model's bundle
}

// referencedSQL selects the keys References hold.
var referencedSQL = func() string {
	var qs []string
	for _, c := range References {
		col := pgx.Identifier{c.Column}.Sanitize()
		qs = append(qs, fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NOT NULL", col, pgx.Identifier{c.Table}.Sanitize(), col))
	}
	return strings.Join(qs, " UNION ")
}()

// Blobs is what a sweep needs of the blob store.
type Blobs interface {
	Walk(ctx context.Context, prefix string, fn func(blob.Info) error) error
	Delete(ctx context.Context, key string) error
}

// Options configure a Sweeper.
type Options struct {
	// MinAge: objects modified more recently are never swept (0:
	// MinAge(24h), the longest blob.upload_timeout).
	MinAge time.Duration
	// Log receives a line per sweep and per object deleted (nil: none).
	Log *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Result is what one sweep did.
type Result struct {
	// Skipped: another process held LockKey; nothing was looked at.
	Skipped bool
	// Listed counts the objects under Prefix, Referenced those a row
	// names, Young the unreferenced ones kept for their age.
	Listed, Referenced, Young int
	// Deleted counts the orphans deleted, DeletedBytes their sizes.
	Deleted      int
	DeletedBytes int64
}

// Sweeper deletes orphaned blobs. It is a prometheus.Collector of its
// counters: rig_cloud_blob_gc_deleted_total,
// rig_cloud_blob_gc_deleted_bytes_total and
// rig_cloud_blob_gc_sweeps_total{result="done|skipped|error"}.
type Sweeper struct {
	pool    *pgxpool.Pool
	blobs   Blobs
	o       Options
	deleted prometheus.Counter
	bytes   prometheus.Counter
	sweeps  *prometheus.CounterVec
}

// New returns a Sweeper of blobs against the database of pool.
func New(pool *pgxpool.Pool, blobs Blobs, o Options) *Sweeper {
	if o.MinAge <= 0 {
		o.MinAge = MinAge(24 * time.Hour)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sweeper{pool: pool, blobs: blobs, o: o,
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_blob_gc_deleted_total",
			Help: "Orphaned blobs (no database row names them) deleted by the blob sweep."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_blob_gc_deleted_bytes_total",
			Help: "Bytes of the orphaned blobs deleted by the blob sweep."}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_blob_gc_sweeps_total",
			Help: "Blob sweeps by result: done, skipped (another worker held the lock) or error."}, []string{"result"}),
	}
}

// Describe implements prometheus.Collector.
func (s *Sweeper) Describe(ch chan<- *prometheus.Desc) {
	s.deleted.Describe(ch)
	s.bytes.Describe(ch)
	s.sweeps.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Sweeper) Collect(ch chan<- prometheus.Metric) {
	s.deleted.Collect(ch)
	s.bytes.Collect(ch)
	s.sweeps.Collect(ch)
}

// Sweep deletes the orphans older than MinAge once (see the package's
// doc), unless another process sweeps (Result.Skipped). An object that
// fails to delete is logged and the others are still deleted; the first
// such error is returned with the Result.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	var res Result
	var delErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, LockKey).Scan(&got); err != nil {
			return fmt.Errorf("blob sweep lock: %w", err)
		}
		if !got {
			res.Skipped = true
			return nil
		}
		cutoff := s.o.Now().Add(-s.o.MinAge)
		var old []blob.Info
		err := s.blobs.Walk(ctx, Prefix, func(i blob.Info) error {
			res.Listed++
			if i.ModTime.Before(cutoff) {
				old = append(old, i)
			} else {
				res.Young++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("blob sweep: %w", err)
		}
		if len(old) == 0 {
			return nil
		}
		// Read after the walk: every row committed before an object was
		// listed is seen.
		refs, err := referenced(ctx, tx)
		if err != nil {
			return err
		}
		for _, i := range old {
			if _, ok := refs[i.Key]; ok {
				res.Referenced++
				continue
			}
			if err := s.blobs.Delete(ctx, i.Key); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.o.Log.Error("blob sweep: deleting an orphan failed", "key", i.Key, "err", err)
				delErr = errors.Join(delErr, err)
				continue
			}
			res.Deleted++
			res.DeletedBytes += i.Size
			s.deleted.Inc()
			s.bytes.Add(float64(i.Size))
			s.o.Log.Info("blob sweep: deleted an orphan", "key", i.Key, "bytes", i.Size, "mod_time", i.ModTime.UTC())
		}
		return nil
	})
	switch {
	case err != nil || delErr != nil:
		s.sweeps.WithLabelValues("error").Inc()
	case res.Skipped:
		s.sweeps.WithLabelValues("skipped").Inc()
	default:
		s.sweeps.WithLabelValues("done").Inc()
	}
	if err != nil {
		return res, err
	}
	return res, delErr
}

// referenced returns the keys References hold.
func referenced(ctx context.Context, tx pgx.Tx) (map[string]struct{}, error) {
	rows, err := tx.Query(ctx, referencedSQL)
	if err != nil {
		return nil, fmt.Errorf("blob sweep: referenced keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("blob sweep: referenced keys: %w", err)
	}
	refs := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		refs[k] = struct{}{}
	}
	return refs, nil
}

// Run sweeps at once and then every interval until ctx ends, logging
// each sweep's result; errors are logged, not returned.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.o.Log.Error("blob sweep failed", "err", err, "deleted", res.Deleted, "deleted_bytes", res.DeletedBytes)
		case res.Skipped:
			s.o.Log.Info("blob sweep skipped: another worker is sweeping")
		default:
			s.o.Log.Info("blob sweep", "listed", res.Listed, "referenced", res.Referenced, "young", res.Young,
				"deleted", res.Deleted, "deleted_bytes", res.DeletedBytes, "min_age", s.o.MinAge.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
