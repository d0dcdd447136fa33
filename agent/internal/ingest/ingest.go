package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Ingest subscribes to a rig's sensor topics and moves what arrives into a
// Store. Build it with New, run it with Run; Stats, Rejections and
// Subscriptions may be called from any goroutine at any time.
type Ingest struct {
	opts  Options
	store Store
	log   *slog.Logger

	routes  map[string]*route // data topics
	births  map[string]birth  // Sparkplug B birth topics
	sensors []sensorInfo
	byID    map[string]int // sensor id -> index in sensors
	// sparkplugSensor marks sensors whose seq is a Sparkplug B message
	// seq (not tracked per sensor).
	sparkplugSensor []bool
	nodes           []*spNode // Sparkplug B edge nodes
	filters         map[string]byte
	names           *codec.Names

	running atomic.Bool
	stats   counters
	lim     limiter
	recent  ring

	// hmu guards the handler's state: one message is handled at a time.
	hmu          sync.Mutex
	pending      []mark  // per sensor: the state after the last accepted reading
	pendingNodes []int16 // per Sparkplug node: the last seq seen (-1: none)
	scratch      []reading.Reading
	touched      []int
	stamp        []uint32 // per sensor: the message whose reading (not ahead) last moved its mark
	touchNo      []uint32 // per sensor: the message that last moved its mark (in touched)
	aheadNo      []uint32 // per sensor: the message of its last reading ahead of an unsynced clock
	aheadT       []int64  // and that reading's time (the newest in the message)
	msgNo        uint32
	failures     map[uint64]int  // decoder failures per payload hash
	lastHeld     map[string]bool // the topics held in the last session

	// cmu guards the committed state: that of readings stored.
	cmu            sync.Mutex
	committed      []mark
	committedNodes []int16
}

// route is how one data topic is decoded.
type route struct {
	topic   string
	qos     byte
	codec   string
	dec     Decoder
	def     string         // the topic's only sensor, or ""
	sensors map[string]int // sensors bound to the topic (active or not)
	node    int            // Sparkplug B edge node, or -1
}

// birth is a Sparkplug B birth topic we subscribe to.
type birth struct {
	node   int
	device bool // DBIRTH (else NBIRTH)
}

// spNode is a Sparkplug B edge node: its metric aliases from the births.
type spNode struct {
	key     string
	aliases map[uint64]codec.SparkplugMetric
}

// sensorInfo is what validation needs of a sensor.
type sensorInfo struct {
	id            string
	topic         string
	inactive      bool
	scale, offset float64
	lo, hi        float64 // accepted range after scale and offset
	min, max      float64 // the configured range
}

// mark is the dedup state of one sensor: the newest stored time and the
// last sequence number, the first seq of the publisher's current count
// (from: the seq stored first since it last started counting, 0:
// unknown), and apart from them the times stored ahead of an
// unsynchronised clock since they last went back (aheadLo to ahead; ahead
// 0: none; aheadLo 0: unknown, every time up to ahead, as resume knows
// only the newest), against which only redelivered messages are checked.
type mark struct {
	set     bool
	seq     uint64
	from    uint64
	t       int64
	ahead   int64
	aheadLo int64
}

// New returns an Ingest for the active sensors of cfg that stores into
// store. It checks the options and every binding (a codec for each topic,
// plugin codecs resolved through opts.Plugins) without touching the
// network.
func New(cfg *rig.Config, store Store, opts Options) (*Ingest, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no firmware config", ErrConfig)
	}
	if store == nil {
		return nil, fmt.Errorf("%w: no store", ErrOptions)
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	id := cmp.Or(cfg.Equipment.ID, cfg.RigType, "unnamed")
	opts.setDefaults(id)
	in := &Ingest{opts: opts, store: store, log: opts.Logger,
		routes: map[string]*route{}, births: map[string]birth{}, byID: map[string]int{},
		filters: map[string]byte{}, failures: map[uint64]int{}}
	in.stats.ackLatency = newHistogram()
	in.lim = limiter{every: opts.LogInterval, last: map[Reason]time.Time{}, held: map[Reason]uint64{}}
	if opts.RecentRejections > 0 {
		in.recent.buf = make([]Rejection, opts.RecentRejections)
	}
	if err := in.build(cfg); err != nil {
		return nil, err
	}
	n := len(in.sensors)
	in.pending, in.committed, in.stamp = make([]mark, n), make([]mark, n), make([]uint32, n)
	in.aheadNo, in.aheadT, in.touchNo = make([]uint32, n), make([]int64, n), make([]uint32, n)
	in.pendingNodes, in.committedNodes = make([]int16, len(in.nodes)), make([]int16, len(in.nodes))
	for i := range in.nodes {
		in.pendingNodes[i], in.committedNodes[i] = -1, -1
	}
	return in, nil
}

// build derives routes, sensors and subscriptions from cfg.
func (in *Ingest) build(cfg *rig.Config) error {
	var ids []string
	decoders := map[string]Decoder{}
	nodeIdx := map[string]int{}
	for _, s := range cfg.Sensors {
		if _, dup := in.byID[s.ID]; dup {
			return fmt.Errorf("%w: sensor %q is listed twice", ErrConfig, s.ID)
		}
		scale := s.Scale
		if scale == 0 {
			scale = 1
		}
		in.sparkplugSensor = append(in.sparkplugSensor, s.MQTT.Codec == codec.NameSparkplugB)
		si := sensorInfo{id: s.ID, topic: s.MQTT.Topic, inactive: s.Inactive, scale: scale, offset: s.Offset,
			min: s.Range.Min, max: s.Range.Max}
		si.lo, si.hi = s.Range.Tolerated(in.opts.RangeTolerance) // the training loaders' rule too
		in.byID[s.ID] = len(in.sensors)
		in.sensors = append(in.sensors, si)
		ids = append(ids, s.ID)
	}
	for i, s := range cfg.Sensors {
		b := s.MQTT
		if b.Topic == "" {
			if s.Inactive {
				continue
			}
			return fmt.Errorf("%w: sensor %q has no MQTT topic", ErrConfig, s.ID)
		}
		if strings.ContainsAny(b.Topic, "+#") {
			return fmt.Errorf("%w: sensor %q: topic %q holds an MQTT wildcard", ErrConfig, s.ID, b.Topic)
		}
		qos := 1
		if b.QoS != nil {
			qos = *b.QoS
		}
		if qos < 0 || qos > 2 {
			return fmt.Errorf("%w: sensor %q: qos value must be 0, 1, or 2: %d", ErrConfig, s.ID, qos)
		}
		rt := in.routes[b.Topic]
		if rt == nil {
			dec, ok := decoders[b.Codec]
			if !ok {
				var err error
				if dec, err = in.decoder(b.Codec); err != nil {
					return fmt.Errorf("%w: sensor %q on topic %q: %w", ErrConfig, s.ID, b.Topic, err)
				}
				decoders[b.Codec] = dec
			}
			rt = &route{topic: b.Topic, qos: byte(qos), codec: b.Codec, dec: dec, sensors: map[string]int{}, node: -1}
			in.routes[b.Topic] = rt
		} else if rt.codec != b.Codec {
			return fmt.Errorf("%w: topic %q is bound to codec %q (sensor %q) and %q (sensor %q)", ErrConfig,
				b.Topic, rt.codec, firstSensor(rt), b.Codec, s.ID)
		}
		rt.sensors[s.ID] = i
		if !s.Inactive {
			rt.qos = max(rt.qos, byte(qos))
		}
	}
	for topic, rt := range in.routes {
		active := 0
		for id, i := range rt.sensors {
			if !in.sensors[i].inactive {
				active++
				rt.def = id
			}
		}
		if active != 1 {
			rt.def = ""
		}
		if active == 0 {
			delete(in.routes, topic)
			continue
		}
		in.filters[topic] = rt.qos
		if rt.codec != codec.NameSparkplugB {
			continue
		}
		sp, ok := parseSparkplugTopic(topic)
		if !ok || (sp.Type != "NDATA" && sp.Type != "DDATA") {
			continue // a sparkplugb payload on a free-form topic: no births, no node seq
		}
		key := sp.nodeKey()
		n, ok := nodeIdx[key]
		if !ok {
			n = len(in.nodes)
			nodeIdx[key] = n
			in.nodes = append(in.nodes, &spNode{key: key})
		}
		rt.node = n
		for _, bt := range sp.birthTopics() {
			in.births[bt] = birth{node: n, device: strings.Contains(bt, "/DBIRTH/")}
			in.filters[bt] = max(in.filters[bt], rt.qos)
		}
	}
	if len(in.routes) == 0 {
		return fmt.Errorf("%w: no active sensor has an MQTT topic", ErrConfig)
	}
	in.names = codec.NewNames(ids...)
	return nil
}

func firstSensor(rt *route) string {
	ids := make([]string, 0, len(rt.sensors))
	for id := range rt.sensors {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[0]
}

// decoder resolves a codec name.
func (in *Ingest) decoder(name string) (Decoder, error) {
	c, err := codec.Lookup(name)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, codec.ErrPlugin) {
		return nil, err
	}
	if in.opts.Plugins == nil {
		return nil, fmt.Errorf("codec %q: no plugin host configured", name)
	}
	d, err := in.opts.Plugins(name)
	if err != nil {
		return nil, fmt.Errorf("codec %q: %w", name, err)
	}
	return d, nil
}

// Subscriptions returns the topic filters the ingest subscribes to, with
// their QoS: every active sensor's topic (the highest QoS of the sensors
// sharing it) and, for Sparkplug B DATA topics, the edge node's NBIRTH and
// the device's DBIRTH topics.
func (in *Ingest) Subscriptions() map[string]byte {
	out := make(map[string]byte, len(in.filters))
	for k, v := range in.filters {
		out[k] = v
	}
	return out
}

// ClientID returns the MQTT client id the ingest connects with.
func (in *Ingest) ClientID() string { return in.opts.ClientID }

// Stats returns a snapshot of the counters.
func (in *Ingest) Stats() Stats { return in.stats.snapshot(in.opts.Now()) }

// Rejections returns the latest rejections (at most
// Options.RecentRejections), oldest first.
func (in *Ingest) Rejections() []Rejection { return in.recent.list() }

// Run connects to the broker, subscribes, and ingests until ctx is done.
// It reconnects by itself after a lost connection, a failed attempt or a
// failed Append, with backoff between MinBackoff and MaxBackoff, so it
// does not return for broker or store trouble: these are logged and
// counted in Stats. When ctx is done it stops reading, lets what was
// received be stored and acknowledged (within DrainTimeout), disconnects
// and returns nil. It returns an error only when the Store is a Resumer
// whose Latest fails (before connecting). A second concurrent Run returns
// ErrRunning.
func (in *Ingest) Run(ctx context.Context) error {
	if !in.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer in.running.Store(false)
	if err := in.resume(ctx); err != nil {
		return err
	}
	backoff := in.opts.MinBackoff
	beat := in.opts.Heartbeat
	for {
		if ctx.Err() != nil {
			return nil
		}
		beat.Beat()
		stored, err := in.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if stored {
			backoff = in.opts.MinBackoff
		}
		in.log.Warn("ingest session ended; reconnecting", "broker", redact(in.opts.Broker), "err", err, "retry_in", backoff)
		if !liveness.Sleep(ctx, backoff, beat) {
			return nil
		}
		backoff = min(2*backoff, in.opts.MaxBackoff)
	}
}

// resume seeds the duplicate detection from the store (see Resumer).
func (in *Ingest) resume(ctx context.Context) error {
	r, ok := in.store.(Resumer)
	if !ok {
		return nil
	}
	latest, err := r.Latest(ctx)
	if err != nil {
		return fmt.Errorf("ingest: read the newest stored readings: %w", err)
	}
	in.cmu.Lock()
	defer in.cmu.Unlock()
	n, ahead := 0, 0
	now := in.opts.Now()
	for _, x := range latest {
		idx, ok := in.byID[x.Sensor]
		if !ok {
			continue
		}
		m := &in.committed[idx]
		t := x.Time.UnixNano()
		if m.set && t < m.t {
			continue
		}
		if x.Time.Sub(now) > in.opts.MaxFutureSkew {
			// Stored while the clock was not synchronised, or by an
			// older agent: as a mark it would reject every later reading
			// without seq until that time. It is the mark of readings
			// ahead, for redeliveries only.
			m.ahead = max(m.ahead, t)
			ahead++
			continue
		}
		*m = mark{set: true, t: t, ahead: m.ahead, aheadLo: m.aheadLo}
		if !in.sparkplugSensor[idx] {
			m.seq = x.Seq
		}
		n++
	}
	in.log.Info("ingest resumed duplicate detection from the store", "sensors", n, "ahead_of_clock_ignored", ahead)
	return nil
}
