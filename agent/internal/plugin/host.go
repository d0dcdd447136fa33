package plugin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/yamux"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Defaults of the HostOptions fields whose zero value means "default".
const (
	DefaultCallTimeout  = 5 * time.Second
	DefaultStartTimeout = 10 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrFailed is returned (wrapped) by Codec.Decode when the plugin
	// could not answer: it crashed, hung past the call timeout, could not
	// be started, or is waiting for its restart. The payload may be fine;
	// the caller should try it again later (the ingest leaves the MQTT
	// message unacknowledged).
	ErrFailed = errors.New("codec plugin failed")
	// ErrRestarting is returned (wrapped, with ErrFailed) by Codec.Decode
	// while a failed plugin waits for its restart: the plugin was not
	// called. Callers that count failures per payload should not count
	// these.
	ErrRestarting = errors.New("codec plugin restart pending")
	// ErrUnavailable is returned (wrapped, with ErrFailed) by
	// Codec.Decode when the plugin was not called with the payload: it
	// could not be started (its handshake or connection failed or timed
	// out), its restart is pending (ErrRestarting), or the host is closed
	// (ErrClosed). The payload played no part in it: callers that count
	// failures per payload should not count these, and should keep the
	// message for later rather than give up on it.
	ErrUnavailable = errors.New("codec plugin unavailable")
	// ErrNotFound is returned (wrapped) by Host.Codec when the plugin's
	// executable is missing or not executable.
	ErrNotFound = errors.New("codec plugin not found")
	// ErrName is returned (wrapped) by Host.Codec for a malformed name.
	ErrName = errors.New("invalid codec plugin name")
	// ErrClosed is returned (wrapped) after Host.Close.
	ErrClosed = errors.New("codec plugin host closed")
)

// HostOptions configure a Host. Only Dir is required; every other zero
// value means the default stated on its field.
type HostOptions struct {
	// Dir is the directory holding the plugin executables
	// (BinaryPrefix+NAME). Required; it must exist.
	Dir string
	// CallTimeout bounds one Decode call, including the plugin's work
	// (zero: DefaultCallTimeout). A plugin that misses it is killed.
	CallTimeout time.Duration
	// StartTimeout bounds the start of a plugin process: its handshake and
	// the connection to its codec service (zero: DefaultStartTimeout). A
	// plugin that misses it is killed and counted as a start failure.
	// Calls that arrive while another call starts the plugin wait for that
	// start at most CallTimeout.
	StartTimeout time.Duration
	// MinBackoff is the wait before the first restart after a failure; it
	// doubles with each further failure up to MaxBackoff and resets after
	// a successful call (zero: DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Logger receives the host's logs and the plugins' own log lines of
	// level warn and above (nil: slog.Default()).
	Logger *slog.Logger
}

func (o *HostOptions) setDefaults() {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Host finds, starts and supervises codec plugins. It is safe for
// concurrent use. Close it to end every plugin process it started.
type Host struct {
	opts HostOptions

	mu     sync.Mutex
	codecs map[string]*Codec
	closed bool
}

// NewHost returns a Host for the plugins in opts.Dir. It starts nothing.
func NewHost(opts HostOptions) (*Host, error) {
	if opts.Dir == "" {
		return nil, errors.New("codec plugin host: no plugin directory given")
	}
	fi, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("codec plugin directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("codec plugin directory %s is not a directory", opts.Dir)
	}
	opts.setDefaults()
	return &Host{opts: opts, codecs: map[string]*Codec{}}, nil
}

// Codec returns the plugin codec called name ("NAME" or "plugin:NAME"),
// the same *Codec for every call with one name. It checks that the
// executable exists; the process is started by the first Decode.
func (h *Host) Codec(name string) (*Codec, error) {
	name = strings.TrimPrefix(name, codec.PluginPrefix)
	if err := checkName(name); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("codec plugin %q: %w", name, ErrClosed)
	}
	if c, ok := h.codecs[name]; ok {
		return c, nil
	}
	path := filepath.Join(h.opts.Dir, BinaryPrefix+name)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("codec plugin %q: %w: %w", name, ErrNotFound, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("codec plugin %q: %w: %s is not an executable file (mode %s)", name, ErrNotFound, path, fi.Mode())
	}
	c := &Codec{name: name, path: path, opts: h.opts, backoff: h.opts.MinBackoff,
		log: h.opts.Logger.With("plugin", name)}
	h.codecs[name] = c
	return c, nil
}

// checkName accepts 1 to 64 of [a-z0-9._-], starting with a letter or
// digit.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w %q: 1 to 64 characters", ErrName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return fmt.Errorf("%w %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", ErrName, name)
		}
	}
	return nil
}

// Stats returns the statistics of every plugin asked for so far, by name.
func (h *Host) Stats() []Stats {
	h.mu.Lock()
	cs := make([]*Codec, 0, len(h.codecs))
	for _, c := range h.codecs {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	out := make([]Stats, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Stats())
	}
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close ends every plugin process and waits for them. It is idempotent;
// Codec and Decode fail with ErrClosed afterwards.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	cs := make([]*Codec, 0, len(h.codecs))
	for _, c := range h.codecs {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
	return nil
}

// Stats counts what happened to one plugin.
type Stats struct {
	// Name is the plugin's NAME.
	Name string
	// Running says whether a plugin process is up now.
	Running bool
	// Calls counts Decode calls; Errors those the plugin answered with a
	// payload error; Failed those that returned ErrFailed.
	Calls, Errors, Failed uint64
	// Crashes counts plugin processes that died during a call; Timeouts
	// those killed because a call exceeded the call timeout; TooLarge
	// those killed because a reply exceeded MaxReplyBytes.
	Crashes, Timeouts, TooLarge uint64
	// Starts counts processes started; Restarts those started after a
	// failure; StartFailures failed starts.
	Starts, Restarts, StartFailures uint64
}

// Codec is a plugin codec as the ingest sees it: a shared/codec Codec that
// decodes by calling the plugin process. It is safe for concurrent use.
type Codec struct {
	name string
	path string
	opts HostOptions
	log  *slog.Logger

	mu        sync.Mutex
	inst      *instance
	starting  *startAttempt // the start in progress, if any
	closed    bool
	failed    bool      // the last instance failed: the next start is a restart
	nextStart time.Time // no start before this
	backoff   time.Duration
	wg        sync.WaitGroup // starts and kills in progress; Add only with mu held

	calls, errs, failedCalls, crashes, timeouts, tooLarge, starts, restarts, startFailures atomic.Uint64
}

// instance is one running plugin process.
type instance struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	sess   *yamux.Session
	rpc    *rpc.Client
	codec  *limitCodec
	log    *logWriter
}

// Name returns "plugin:NAME".
func (c *Codec) Name() string { return codec.PluginPrefix + c.name }

// Encode is not supported: plugins only decode.
func (c *Codec) Encode(dst []byte, _ []reading.Reading) ([]byte, error) {
	return dst, fmt.Errorf("%s: plugin codecs only decode", c.Name())
}

// Stats returns the plugin's statistics.
func (c *Codec) Stats() Stats {
	c.mu.Lock()
	running := c.inst != nil
	c.mu.Unlock()
	return Stats{Name: c.name, Running: running,
		Calls: c.calls.Load(), Errors: c.errs.Load(), Failed: c.failedCalls.Load(),
		Crashes: c.crashes.Load(), Timeouts: c.timeouts.Load(), TooLarge: c.tooLarge.Load(),
		Starts: c.starts.Load(), Restarts: c.restarts.Load(), StartFailures: c.startFailures.Load()}
}

// Decode sends payload to the plugin and appends the readings it returns
// to dst, as codec.Codec.Decode does: readings without a sensor id take
// b.Sensor, readings without a time take b.Now, and on error dst is
// returned with its original length.
//
// A payload error from the plugin is returned as a *codec.Error. When the
// plugin cannot answer (crash, timeout, start failure, restart pending),
// the error wraps ErrFailed and the process is killed and restarted later;
// when the plugin was not called with this payload at all (start failure,
// restart pending, host closed) it also wraps ErrUnavailable.
func (c *Codec) Decode(b codec.Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	c.calls.Add(1)
	inst, err := c.instance()
	if err != nil {
		c.failedCalls.Add(1)
		return dst, err
	}
	var reply Reply
	call := inst.rpc.Go("Plugin.Decode", Request{Topic: b.Topic, Payload: payload, Sensor: b.Sensor, Now: b.Now}, &reply, make(chan *rpc.Call, 1))
	timer := time.NewTimer(c.opts.CallTimeout)
	defer timer.Stop()
	select {
	case <-call.Done:
	case <-timer.C:
		c.failedCalls.Add(1)
		if c.fail(inst, "call timed out", "timeout", c.opts.CallTimeout) {
			c.timeouts.Add(1)
		}
		return dst, fmt.Errorf("%s on topic %q: %w: no answer within %s (killed; restarting)", c.Name(), b.Topic, ErrFailed, c.opts.CallTimeout)
	}
	if err := call.Error; err != nil {
		var se rpc.ServerError
		if errors.As(err, &se) {
			c.errs.Add(1)
			c.succeeded()
			msg := string(se)
			if len(msg) > 512 {
				msg = msg[:512] + "..."
			}
			return dst, &codec.Error{Codec: c.Name(), Topic: b.Topic, Offset: -1, Reading: -1, Msg: msg}
		}
		c.failedCalls.Add(1)
		if inst.codec.exceeded.Load() {
			if c.fail(inst, "reply too large", "limit_bytes", MaxReplyBytes) {
				c.tooLarge.Add(1)
			}
			return dst, fmt.Errorf("%s on topic %q: %w: the plugin's reply exceeded %d bytes (killed; restarting)", c.Name(), b.Topic, ErrFailed, MaxReplyBytes)
		}
		if c.fail(inst, "plugin died during a call", "err", err) {
			c.crashes.Add(1)
		}
		return dst, fmt.Errorf("%s on topic %q: %w: the plugin process died during the call (%v); restarting", c.Name(), b.Topic, ErrFailed, err)
	}
	c.succeeded()
	return c.finish(b, dst, reply.Readings)
}

// finish fills defaults in rs, checks them as the built-in codecs check
// theirs (codec.CheckReading) and appends them to dst.
func (c *Codec) finish(b codec.Binding, dst, rs []reading.Reading) ([]reading.Reading, error) {
	if len(rs) > codec.MaxReadings {
		return dst, &codec.Error{Codec: c.Name(), Topic: b.Topic, Offset: -1, Reading: -1,
			Msg: fmt.Sprintf("plugin returned %d readings, more than the limit of %d", len(rs), codec.MaxReadings)}
	}
	for i := range rs {
		r := &rs[i]
		if r.Sensor == "" {
			if b.Sensor == "" {
				return dst, &codec.Error{Codec: c.Name(), Topic: b.Topic, Offset: -1, Reading: i, Field: "sensor",
					Msg: "reading without a sensor id on a topic shared by several sensors"}
			}
			r.Sensor = b.Sensor
		}
		if r.Time.IsZero() {
			if b.Now.IsZero() {
				return dst, &codec.Error{Codec: c.Name(), Topic: b.Topic, Offset: -1, Reading: i, Field: "ts",
					Msg: "reading without a time and no arrival time"}
			}
			r.Time = b.Now
		}
		r.Time = r.Time.UTC()
		if field, msg := codec.CheckReading(r); msg != "" {
			return dst, &codec.Error{Codec: c.Name(), Topic: b.Topic, Offset: -1, Reading: i, Field: field, Msg: msg}
		}
	}
	return append(dst, rs...), nil
}

// instance returns the running instance, starting one if none runs and
// the backoff allows. c.mu is not held during a start: calls that arrive
// meanwhile wait for it at most CallTimeout, and Stats and Close do not
// wait for it.
func (c *Codec) instance() (*instance, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w: %w: %w", c.Name(), ErrFailed, ErrUnavailable, ErrClosed)
	}
	if inst := c.inst; inst != nil {
		c.mu.Unlock()
		return inst, nil
	}
	if s := c.starting; s != nil {
		c.mu.Unlock()
		return c.waitStart(s)
	}
	if wait := time.Until(c.nextStart); wait > 0 {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w: %w: %w: restarting in %s", c.Name(), ErrFailed, ErrUnavailable, ErrRestarting, wait.Round(time.Millisecond))
	}
	s := &startAttempt{done: make(chan struct{})}
	c.starting = s
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()

	inst, err := c.start(s)

	c.mu.Lock()
	c.starting = nil
	closed := c.closed
	switch {
	case err == nil && closed:
		err = fmt.Errorf("%s: %w: %w: %w", c.Name(), ErrFailed, ErrUnavailable, ErrClosed)
	case err != nil && closed:
		err = fmt.Errorf("%s: %w: %w: %w (start %s: %w)", c.Name(), ErrFailed, ErrUnavailable, ErrClosed, c.path, err)
	case err != nil:
		c.startFailures.Add(1)
		c.log.Warn("codec plugin failed to start", "path", c.path, "err", err, "retry_in", c.backoff)
		c.penalize()
		err = fmt.Errorf("%s: %w: %w: start %s: %w", c.Name(), ErrFailed, ErrUnavailable, c.path, err)
	default:
		c.starts.Add(1)
		if c.failed {
			c.restarts.Add(1)
			c.log.Info("codec plugin restarted", "path", c.path)
		}
		c.failed = false
		c.inst = inst
	}
	s.ok = err == nil
	close(s.done)
	c.mu.Unlock()
	if err != nil {
		if inst != nil {
			inst.kill() // started, but Close came first; Close waits for this
		}
		return nil, err
	}
	return inst, nil
}

// waitStart waits at most CallTimeout for the start s that another call
// runs, and returns its instance.
func (c *Codec) waitStart(s *startAttempt) (*instance, error) {
	timer := time.NewTimer(c.opts.CallTimeout)
	defer timer.Stop()
	select {
	case <-s.done:
	case <-timer.C:
		return nil, fmt.Errorf("%s: %w: %w: %w: still starting after %s", c.Name(), ErrFailed, ErrUnavailable, ErrRestarting, c.opts.CallTimeout)
	}
	if !s.ok {
		return nil, fmt.Errorf("%s: %w: %w: %w: the plugin failed to start", c.Name(), ErrFailed, ErrUnavailable, ErrRestarting)
	}
	// The instance may have failed since; take the current one.
	return c.instance()
}

// startAttempt is a start in progress. Its deadline (or Close) aborts it:
// the process, once it has one, is killed, which ends whatever step of
// the start waits on it.
type startAttempt struct {
	done chan struct{} // closed when the start is over
	ok   bool          // set before done is closed

	mu      sync.Mutex
	aborted string // why, when aborted
	proc    *os.Process
	conn    io.Closer // the connection to the plugin (or its yamux session), once made
}

// abort kills the process of the start (its process group) and closes
// the connection to it, now or as soon as it has them.
func (s *startAttempt) abort(why string) {
	s.mu.Lock()
	if s.aborted == "" {
		s.aborted = why
	}
	p, conn := s.proc, s.conn
	s.mu.Unlock()
	killGroup(p)
	if conn != nil {
		_ = conn.Close()
	}
}

// started records the started process, killing it if the start was
// aborted meanwhile. It returns why the start was aborted, or "".
func (s *startAttempt) started(p *os.Process) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc = p
	if s.aborted != "" {
		killGroup(p)
	}
	return s.aborted
}

// connected records the connection to the plugin (a net.Conn, then its
// yamux session), closing it if the start was aborted meanwhile.
func (s *startAttempt) connected(c io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = c
	if s.aborted != "" {
		_ = c.Close()
	}
}

// killGroup kills the plugin process p and its process group (the plugin
// is started as the leader of its own group): go-plugin's Client.Kill
// waits for EOF on the plugin's stderr, which a child process of the
// plugin that inherited it would otherwise hold open for as long as it
// lives.
func killGroup(p *os.Process) {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

// abortedWhy returns why the start was aborted, or "".
func (s *startAttempt) abortedWhy() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// start launches the plugin process and connects to its codec service,
// within StartTimeout overall. c.mu is not held.
//
// The connection is made here rather than by go-plugin's Client and
// Dispense (same wire protocol: yamux over the plugin's socket, a control
// stream, the plugin's stdout and stderr streams, Dispenser.Dispense, then
// a broker stream for the codec service) so that the codec service's
// net/rpc client reads through a limitCodec, which caps each reply at
// MaxReplyBytes.
func (c *Codec) start(s *startAttempt) (inst *instance, err error) {
	watchdog := time.AfterFunc(c.opts.StartTimeout, func() {
		s.abort(fmt.Sprintf("no connection within the start timeout of %s", c.opts.StartTimeout))
	})
	defer watchdog.Stop()

	cmd := exec.Command(c.path)
	cmd.SysProcAttr = procAttr() // its own process group (killGroup), killed with the agent
	lw := &logWriter{log: c.log}
	cl := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          goplugin.PluginSet{PluginName: &rpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolNetRPC},
		StartTimeout:     c.opts.StartTimeout,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "codec-plugin", Level: hclog.Warn,
			Output: lw, DisableTime: true}),
	})
	var sess *yamux.Session
	defer func() {
		if err != nil {
			lw.quiet.Store(true)
			if sess != nil {
				_ = sess.Close()
			}
			killGroup(cmd.Process)
			cl.Kill()
			if why := s.abortedWhy(); why != "" {
				err = fmt.Errorf("%s (killed): %w", why, err)
			}
		}
	}()
	addr, err := cl.Start()
	if why := s.started(cmd.Process); why != "" && err == nil {
		err = errors.New("start aborted")
	}
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		return nil, err
	}
	s.connected(conn)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	if sess, err = yamux.Client(conn, cfg); err != nil {
		_ = conn.Close()
		return nil, err
	}
	s.connected(sess)
	control, err := sess.Open()
	if err != nil {
		return nil, err
	}
	for range 2 { // the plugin's stdout and stderr: discarded, as go-plugin does by default
		std, err := sess.Open()
		if err != nil {
			return nil, err
		}
		go func() { _, _ = io.Copy(io.Discard, std) }()
	}
	var id uint32
	if err := rpc.NewClient(control).Call("Dispenser.Dispense", PluginName, &id); err != nil {
		return nil, fmt.Errorf("dispense %q: %w", PluginName, err)
	}
	stream, err := sess.OpenStream()
	if err != nil {
		return nil, err
	}
	var ack uint32
	if err := binary.Write(stream, binary.LittleEndian, id); err != nil {
		return nil, fmt.Errorf("connect to the codec service: %w", err)
	}
	if err := binary.Read(stream, binary.LittleEndian, &ack); err != nil {
		return nil, fmt.Errorf("connect to the codec service: %w", err)
	}
	if ack != id {
		return nil, fmt.Errorf("connect to the codec service: bad ack %d (want %d)", ack, id)
	}
	if why := s.abortedWhy(); why != "" {
		return nil, errors.New("start aborted")
	}
	lc := newLimitCodec(stream, MaxReplyBytes)
	return &instance{client: cl, cmd: cmd, sess: sess, rpc: rpc.NewClientWithCodec(lc), codec: lc, log: lw}, nil
}

// testHookFailed, when set by a test, runs in fail after c.mu is released.
var testHookFailed func()

// fail drops inst (if it is still the current one), kills its process in
// the background and schedules the restart. It reports whether inst was
// the current instance, so that concurrent calls that saw one failure
// count it once.
func (c *Codec) fail(inst *instance, msg string, args ...any) bool {
	c.mu.Lock()
	current := c.inst == inst
	if current {
		c.inst = nil
		c.failed = true
		c.log.Warn("codec plugin "+msg, append(args, "retry_in", c.backoff)...)
		c.penalize()
		// Added with c.mu held: a close that no longer sees inst waits
		// for its kill.
		c.wg.Go(inst.kill)
	}
	c.mu.Unlock()
	if testHookFailed != nil {
		testHookFailed()
	}
	return current
}

// penalize sets the next start after the current backoff and doubles it.
// c.mu is held.
func (c *Codec) penalize() {
	c.nextStart = time.Now().Add(c.backoff)
	c.backoff = min(2*c.backoff, c.opts.MaxBackoff)
}

// succeeded resets the backoff after a call the plugin answered.
func (c *Codec) succeeded() {
	c.mu.Lock()
	c.backoff = c.opts.MinBackoff
	c.mu.Unlock()
}

// close kills the running instance, aborts a start in progress and waits
// for every kill and start.
func (c *Codec) close() {
	c.mu.Lock()
	c.closed = true
	inst := c.inst
	c.inst = nil
	s := c.starting
	c.mu.Unlock()
	if s != nil {
		s.abort("the host was closed")
	}
	if inst != nil {
		inst.kill()
	}
	c.wg.Wait()
}

// kill ends the process at once (a hung plugin would not exit on
// request) and lets go-plugin clean up. go-plugin's complaints about the
// kill are not logged: the failure that caused it was.
func (inst *instance) kill() {
	inst.log.quiet.Store(true)
	killGroup(inst.cmd.Process)
	_ = inst.rpc.Close()
	_ = inst.sess.Close()
	inst.client.Kill()
}

// logWriter turns hclog's formatted lines into slog records, until
// quiet.
type logWriter struct {
	log   *slog.Logger
	quiet atomic.Bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.quiet.Load() {
		return len(p), nil
	}
	for line := range bytes.Lines(p) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			w.log.Warn("codec plugin log", "line", string(line))
		}
	}
	return len(p), nil
}

// ensure Codec satisfies codec.Codec.
var _ codec.Codec = (*Codec)(nil)
