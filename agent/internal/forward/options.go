package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Defaults of Options.
const (
	DefaultBatchItems     = 500
	DefaultBatchBytes     = 1 << 20
	DefaultMaxItems       = 100_000
	DefaultMaxBytes       = 256 << 20
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultTimeout        = 30 * time.Second
	DefaultCheckin        = 5 * time.Minute
	DefaultAlertReserve   = 0.1
	DefaultRejectsInARow  = 3
	DefaultFileName       = "outbox.db"
	DefaultUserAgent      = "rig-agent"
	maxRetryAfter         = 24 * time.Hour
	requestOverheadBytes  = 512 // HTTP request line and headers, counted against the caps
	responseOverheadBytes = 256
)

// Options configure a Forwarder. Zero values mean the default each field
// names. FromConfig builds them from the agent's config.
type Options struct {
	// Path is the outbox's bbolt file (required; FromConfig:
	// <agent.data_dir>/outbox.db).
	Path string
	// URL is the cloud's base URL, e.g. https://cloud.example.com
	// (required).
	URL string
	// AgentID is this agent's id (cloudapi.ValidID; required). Enqueue
	// sets it on diagnoses that have none and refuses others.
	AgentID string
	// RigID and RigType are reported at check-in.
	RigID, RigType string
	// FirmwareDigest is the digest of the agent's loaded firmware config
	// (shared/rig Config.Digest, "sha256:<hex>"), reported at check-in
	// ("": not reported; FromConfig: the config's firmware). The cloud
	// offers only releases whose bundle was made for it.
	FirmwareDigest string
	// Version is the agent's version, reported at check-in and in the
	// User-Agent header.
	Version string
	// Credential returns the bearer credential; it is called before every
	// request, so a rotated credential file is picked up (required;
	// FromConfig reads cloud.credential_file).
	Credential func() (string, error)
	// Generation is the credential's enrollment generation as saved at
	// enrollment (FromConfig: config.Cloud.Generation; 0: not known). It
	// goes into the Idempotency-Keys from the first request; each
	// accepted check-in that names one replaces it.
	Generation int
	// HTTPClient sends the requests (nil: a client with TLS 1.2 or later,
	// proxies from the environment, and Timeout per request).
	HTTPClient *http.Client
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration

	// BatchItems and BatchBytes cap one request: diagnoses per batch and
	// their JSON size before compression (defaults DefaultBatchItems,
	// DefaultBatchBytes). The server's announced limits lower them.
	BatchItems int
	BatchBytes int64
	// MaxItems and MaxBytes cap the outbox (defaults DefaultMaxItems,
	// DefaultMaxBytes). When full, Enqueue removes the oldest non-alert
	// diagnosis; with only alerts queued, a new alert removes the oldest
	// alert and a new non-alert is dropped. Every removal is counted
	// (Stats.Dropped), logged (at most once a minute) and passed to OnDrop;
	// one of the batch being sent only if that batch fails (the cloud
	// took it otherwise: it counts by the cloud's answer).
	MaxItems int
	MaxBytes int64

	// BytesPerSecond caps the average upload rate, request and response
	// bytes (0: unlimited). Bursts are at most one second's worth, or one
	// request when that is larger.
	BytesPerSecond int64
	// BytesPerDay caps the bytes sent and received per UTC day (0:
	// unlimited). The last AlertReserve of it is kept for alerts. The
	// day's count is persisted in the outbox, so restarts do not reset it.
	// A request's bytes, its answer's included, count for the UTC day in
	// which it goes out (after the rate cap's wait); a request never made
	// (no credential) counts nothing.
	BytesPerDay int64
	// AlertReserve is the fraction of BytesPerDay only alerts may use
	// (default DefaultAlertReserve; negative: none).
	AlertReserve float64

	// BackoffMin and BackoffMax bound the exponential backoff after a
	// failed request: the n-th failure in a row waits a uniform time in
	// [d/2, d], d = min(BackoffMax, BackoffMin * 2^(n-1)); a Retry-After
	// wait is kept when longer (defaults DefaultBackoffMin,
	// DefaultBackoffMax).
	BackoffMin, BackoffMax time.Duration
	// Checkin is the check-in interval until the server names one
	// (default DefaultCheckin).
	Checkin time.Duration
	// RejectsInARow is how many single diagnoses refused with 400, 413 or
	// 422 in a row, with no success between, the forwarder rejects before
	// it assumes the server, not the data, is at fault and stops rejecting
	// (default DefaultRejectsInARow).
	RejectsInARow int

	// Readings, when set, serves the cloud's upload requests from the
	// reading buffer and releases readings (see Release).
	Readings Readings
	// Release is the buffer cursor the forwarder moves to release readings
	// ("": config.ForwardCursor). After each successful check-in that
	// leaves no upload request open, readings up to the buffer's last
	// sequence number before that check-in are released: the cloud has
	// had its chance to ask for them.
	Release string

	// Describe, when set, adds the rest of the agent's state to every
	// check-in request (the model in use, the update state: the optional
	// fields of cloudapi.CheckinRequest); called on Run's goroutine, it
	// must not block for long.
	Describe func(*cloudapi.CheckinRequest)
	// Offer, when set, receives the offer of every check-in answer (nil:
	// the answer offers no release; an invalid offer is logged and passed
	// as nil, cloudapi.ErrBadOffer): the agent passes it to its model
	// updater, which installs only the offered release
	// (docs/agent-cloud-api.md, "Offers"). Called on Run's goroutine after
	// each successful check-in; it must not block for long.
	Offer func(*cloudapi.Offer)
	// Seqs, when set, is where the diagnoses' sequence numbers come from
	// (the agent's history). A check-in whose answer names a HighestSeq
	// at or above its next number (the agent's numbering restarted: its
	// history and sequence mark lost) raises it above that before any
	// diagnosis is sent, and the diagnoses queued with a seq at or below
	// it, or queued later with one, are renumbered from it
	// (Stats.Renumbered). nil: the answer's HighestSeq is ignored.
	Seqs Seqs

	// NoSync skips fsync on outbox commits: for tests only; a power cut
	// may lose queued diagnoses.
	NoSync bool
	// Clock is the time source (nil: the system clock). Tests use a fast
	// clock.
	Clock Clock
	// Rand returns a uniform number in [0, 1) for jitter (nil:
	// math/rand/v2).
	Rand func() float64
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// Heartbeat is beaten by Run at every step, every liveness.Interval
	// while it sleeps (Clock.Sleep), and on its behalf while a request
	// runs (bounded by Timeout); an outbox call that does not return
	// stops the beats (nil: none).
	Heartbeat *liveness.Beater
	// OnDrop, if set, is called for every diagnosis removed unsent
	// because the outbox was full, outside any lock (for one removed
	// while its batch was being sent, when that batch failed).
	OnDrop func(seq uint64, alert bool)
}

// Readings is what the forwarder needs from the reading buffer;
// *buffer.Buffer has it.
type Readings interface {
	Range(ctx context.Context, from, to time.Time, fn func(buffer.Record) error) error
	LastSeq() uint64
	SetCursor(ctx context.Context, name string, seq uint64) error
}

// Clock is a source of time. Sleep waits for d or until ctx is done
// (then it returns ctx.Err()), or until wake receives (nil: never),
// then returns nil.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-wake:
	}
	return nil
}

// beatingClock is a Clock whose Sleep beats every liveness.Interval: a
// forwarder that waits is not hung.
type beatingClock struct {
	Clock
	beat *liveness.Beater
}

func (c beatingClock) Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	var err error
	liveness.SleepParts(d, c.beat, func(part time.Duration) bool {
		// A wake while the clock sleeps a part ends the whole: Sleep
		// returns nil for a wake as for a part that elapsed, so the
		// wake is seen on a channel of its own.
		woke := false
		w, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-wake:
				woke = true
				close(w)
			case <-stop:
			}
		}()
		err = c.Clock.Sleep(ctx, part, w)
		close(stop)
		<-done
		return err == nil && !woke
	})
	return err
}

func (o *Options) setDefaults() error {
	var problems []string
	if o.Path == "" {
		problems = append(problems, "Path is empty")
	}
	if o.URL == "" {
		problems = append(problems, "URL is empty")
	}
	if o.Generation < 0 {
		problems = append(problems, fmt.Sprintf("Generation %d is negative", o.Generation))
	}
	if o.Credential == nil {
		problems = append(problems, "Credential is nil")
	}
	if len(problems) > 0 {
		return fmt.Errorf("forward: %s", strings.Join(problems, "; "))
	}
	o.URL = strings.TrimRight(o.URL, "/")
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BatchItems, DefaultBatchItems)
	def(&o.MaxItems, DefaultMaxItems)
	def(&o.RejectsInARow, DefaultRejectsInARow)
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	if o.Checkin <= 0 {
		o.Checkin = DefaultCheckin
	}
	switch {
	case o.AlertReserve == 0:
		o.AlertReserve = DefaultAlertReserve
	case o.AlertReserve < 0:
		o.AlertReserve = 0
	case o.AlertReserve > 0.9:
		o.AlertReserve = 0.9
	}
	if o.Release == "" {
		o.Release = config.ForwardCursor
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Heartbeat != nil {
		o.Clock = beatingClock{Clock: o.Clock, beat: o.Heartbeat}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = NewHTTPClient()
	}
	return nil
}

// NewHTTPClient returns the client the agent talks to the cloud with when
// none is given (Options.HTTPClient, rig-agent enroll): TLS 1.2 or later,
// proxies from the environment, no overall timeout (each request carries
// its own deadline).
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	return &http.Client{Transport: tr}
}

// UserAgent is the User-Agent of the agent's requests to the cloud:
// DefaultUserAgent, with "/version" when version is set.
func UserAgent(version string) string {
	if version == "" {
		return DefaultUserAgent
	}
	return DefaultUserAgent + "/" + version
}

// FromConfig returns the Options of cfg's cloud section (cfg passed
// Validate and cfg.Cloud.Enabled()). readings is the reading buffer (nil:
// no uploads, no release); version the agent's build.
func FromConfig(cfg *config.Config, readings Readings, version string, log *slog.Logger) (Options, error) {
	c := cfg.Cloud
	if !c.Enabled() {
		return Options{}, errors.New("forward: cloud.url is empty: no cloud link to forward to")
	}
	o := Options{
		Path:           filepath.Join(cfg.Agent.DataDir, DefaultFileName),
		URL:            c.URL,
		AgentID:        cfg.Agent.ID,
		Version:        version,
		Credential:     c.Credential,
		Timeout:        c.Timeout,
		BatchItems:     c.BatchSize,
		BatchBytes:     int64(c.BatchBytes),
		MaxItems:       c.OutboxMaxItems,
		MaxBytes:       int64(c.OutboxMaxBytes),
		BytesPerSecond: int64(c.BandwidthBytesPerS),
		BytesPerDay:    int64(c.BandwidthBytesPerDay),
		BackoffMin:     c.BackoffMin,
		BackoffMax:     c.BackoffMax,
		Release:        config.ForwardCursor,
		Logger:         log,
	}
	if readings != nil {
		o.Readings = readings
	}
	// The enrolled generation, so that Idempotency-Keys are right before
	// the first accepted check-in names it. Without it (an unreadable
	// file) they say 0 until then: logged, not fatal.
	gen, err := c.Generation()
	if err != nil {
		if log == nil {
			log = slog.Default()
		}
		log.Warn("forward: enrollment generation not known until the first check-in", "error", err)
	}
	o.Generation = gen
	if fw := cfg.Firmware; fw != nil {
		o.RigID, o.RigType, o.FirmwareDigest = fw.Equipment.ID, fw.RigType, fw.Digest()
	}
	return o, nil
}
