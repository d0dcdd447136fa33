package jobs

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// Results of an attempt, the result label of
// rig_cloud_worker_attempts_total and
// rig_cloud_worker_attempt_duration_seconds, as the worker that ran the
// attempt sees its end.
const (
	// ResultSucceeded: the model version (a data set's build) was
	// registered; the job succeeded.
	ResultSucceeded = "succeeded"
	// ResultFailed: the attempt's error ended the job failed: an error
	// retrying cannot fix, past Options.MaxJobDuration, or the job's last
	// attempt (max_attempts).
	ResultFailed = "failed"
	// ResultRetried: the attempt's error (or a shutdown) queued the job
	// again for another attempt.
	ResultRetried = "retried"
	// ResultCancelled: a cancel request ended the job.
	ResultCancelled = "cancelled"
	// ResultLeaseLost: the worker lost the job's lease (another worker
	// may run it) and wrote nothing more.
	ResultLeaseLost = "lease_lost"
	// ResultUnstored: the attempt ended but its end could not be stored
	// (the database unreachable); the next claim past the lease re-queues
	// or fails the job.
	ResultUnstored = "unstored"
)

// results are every result label value, in the order of the constants.
var results = []string{ResultSucceeded, ResultFailed, ResultRetried, ResultCancelled, ResultLeaseLost, ResultUnstored}

// attemptBuckets bound rig_cloud_worker_attempt_duration_seconds: 10 s
// to about 45 h, by 4x (worker.max_job_duration's default is 24 h).
var attemptBuckets = prometheus.ExponentialBuckets(10, 4, 8)

// metrics are a Worker's attempt counters (Worker.Describe, Collect).
type metrics struct {
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() metrics {
	m := metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_worker_attempts_total",
			Help: "Attempts of jobs this worker ran to their end, by kind (train, fleet_dataset) and result: succeeded, failed (the job failed), retried (queued again), cancelled, lease_lost or unstored (the end could not be stored)."},
			[]string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rig_cloud_worker_attempt_duration_seconds",
			Help:    "Seconds from the claim of a job's attempt to its end, by kind and result (those of rig_cloud_worker_attempts_total).",
			Buckets: attemptBuckets}, []string{"kind", "result"}),
	}
	// Every series from the start, at 0, so that increase() and rate()
	// over a window see a job kind's first failure.
	for _, k := range []string{store.KindTrain, store.KindBuildDataset} {
		for _, r := range results {
			m.attempts.WithLabelValues(k, r)
		}
	}
	return m
}

// ended counts an attempt of a job of kind that ran since start and
// ended with result.
func (m metrics) ended(kind, result string, start time.Time) {
	m.attempts.WithLabelValues(kind, result).Inc()
	m.duration.WithLabelValues(kind, result).Observe(time.Since(start).Seconds())
}

// failResult is the result of an attempt whose end was stored with
// FailJob: state the job's state it returned, ferr its error. The state
// is the stored one, so a cancel requested after the worker's last
// heartbeat counts as cancelled, as the job ended.
func failResult(state string, ferr error) string {
	switch {
	case errors.Is(ferr, store.ErrLeaseLost):
		return ResultLeaseLost
	case ferr != nil:
		return ResultUnstored
	case state == store.JobCancelled:
		return ResultCancelled
	case state == store.JobQueued:
		return ResultRetried
	default:
		return ResultFailed
	}
}

// Describe implements prometheus.Collector: rig_cloud_worker_attempts_total
// and rig_cloud_worker_attempt_duration_seconds.
func (w *Worker) Describe(ch chan<- *prometheus.Desc) {
	w.m.attempts.Describe(ch)
	w.m.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (w *Worker) Collect(ch chan<- prometheus.Metric) {
	w.m.attempts.Collect(ch)
	w.m.duration.Collect(ch)
}
