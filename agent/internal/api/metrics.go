package api

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/update"
)

// registry builds the metrics registry: Go and process collectors, the
// inference histogram, and a collector that reads every part's Stats at
// scrape time (no background work, nothing to keep in sync).
func (s *Server) registry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&snapshot{s: s},
	}
	if s.opts.Inference != nil {
		cs = append(cs, s.opts.Inference)
	}
	if s.opts.InferenceCPU != nil {
		cs = append(cs, s.opts.InferenceCPU)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}, ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// snapshot is an unchecked collector over the parts' Stats.
type snapshot struct{ s *Server }

func (*snapshot) Describe(chan<- *prometheus.Desc) {}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("rig_agent_"+name, help, labels, nil)
}

var (
	dAPIRefused   = desc("api_requests_refused_total", "Local API requests refused, by reason: host (a Host header not allowed), unauthorized (no or a wrong bearer token), rate_limited (too many recalibrations from one client).", "reason")
	dReady        = desc("ready", "1 when the agent is ready (buffer open, broker connected, model loaded).")
	dLoopBeat     = desc("loop_last_beat_timestamp_seconds", "Unix time of the last heartbeat of each of the agent's long-running loops (ingest, windowing, publisher, forwarder, updater); they beat every 2 s, idle or busy.", "loop")
	dLoopStalled  = desc("loop_stalled", "1 while the loop has gone without a heartbeat for more than agent.stall_after (/health/live answers 503 and the systemd watchdog is not fed).", "loop")
	dStallAfter   = desc("loop_stall_after_seconds", "The stall limit, agent.stall_after.")
	dBuild        = desc("build_info", "The agent's version and id.", "version", "agent_id")
	dModel        = desc("model_info", "The model bundle in use.", "bundle", "version", "precision", "provider")
	dConnected    = desc("ingest_connected", "1 while the ingest's MQTT session is up and subscribed.")
	dReadings     = desc("ingest_readings_total", "Readings stored by the ingest.")
	dRate         = desc("ingest_readings_per_second", "Readings stored per second over the last 10 s.")
	dMessages     = desc("ingest_messages_total", "MQTT messages received.")
	dMsgBytes     = desc("ingest_bytes_total", "MQTT payload bytes received.")
	dRejected     = desc("ingest_rejected_total", "Messages or readings rejected, by reason.", "reason")
	dGaps         = desc("ingest_gaps_total", "Readings that never arrived, by the publishers' sequence numbers.")
	dStoreErr     = desc("ingest_store_errors_total", "Failed buffer appends (the messages are redelivered).")
	dDecodeFail   = desc("ingest_decode_failures_total", "Messages a decoder could not answer (left unacknowledged, redelivered).")
	dPluginWait   = desc("ingest_plugin_waits_total", "Messages held unacknowledged because their codec plugin could not start or was restarting.")
	dPluginHeld   = desc("ingest_plugin_held_total", "Messages left unacknowledged for the rest of their session because their codec plugin stayed unavailable (redelivered in the next session).")
	dOldUnsync    = desc("ingest_old_unsynced_total", "Readings stored although more than the maximum age behind the agent's clock, because that clock was not synchronised.")
	dFutureUnsync = desc("ingest_future_unsynced_total", "Readings stored although more than the future skew ahead of the agent's clock, because that clock was not synchronised.")
	dConnFail     = desc("ingest_connection_errors_total", "Ingest MQTT connection problems, by kind: connect (an attempt failed), lost (the broker or network ended a session).", "kind")
	dInFlight     = desc("ingest_in_flight_messages", "Messages received and not yet acknowledged.")
	dAck          = desc("ingest_ack_latency_seconds", "From a message's arrival to its acknowledgement after the durable commit.")
	dBufReadings  = desc("buffer_readings", "Readings stored in the buffer (its depth).")
	dBufBytes     = desc("buffer_bytes", "Encoded size of the stored readings.")
	dBufFile      = desc("buffer_file_bytes", "Size of the buffer's data file.")
	dBufOldest    = desc("buffer_oldest_age_seconds", "Age of the oldest stored reading (0 when empty).")
	dBufAppended  = desc("buffer_appended_total", "Readings committed since start.")
	dBufRejected  = desc("buffer_rejected_total", "Readings the buffer refused (full, disk full, commit error).")
	dBufCommitErr = desc("buffer_commit_errors_total", "Failed commits.")
	dBufDropped   = desc("buffer_dropped_total", "Readings removed by the buffer's caps, by cause; released=false is data lost to a consumer.", "reason", "released")
	dWindows      = desc("windows_total", "Windows closed, by result.", "result")
	dPending      = desc("windows_pending", "Windows open (waiting for their end and lateness).")
	dLate         = desc("window_late_readings_total", "Readings that arrived for a window already diagnosed.")
	dWinErrors    = desc("window_errors_total", "Windowing errors, by stage: store (a history write failed; retried), sink (a diagnosis could not be handed to the publisher or forwarder).", "stage")
	dLastSeq      = desc("diagnosis_last_seq", "Seq of the newest diagnosis.")
	dLastTime     = desc("diagnosis_last_timestamp_seconds", "When the newest diagnosis was made (Unix time; 0: none yet).")
	dDiskFree     = desc("disk_free_bytes", "Bytes the agent's user may still write on the file system of each directory the agent writes (statfs's available blocks, as df's Avail), by role: data (agent.data_dir), store (buffer.path's), history (diagnoses.path's), updates (update.dir, with update.url). Read at scrape time; no series while statfs fails or gives no answer within 500 ms.", "dir", "path")
	dDiskSize     = desc("disk_size_bytes", "Size of the file system of each directory the agent writes (statfs's data blocks, as df's Size), by role as rig_agent_disk_free_bytes.", "dir", "path")
	dDiskInfo     = desc("disk_info", "Which file system holds each directory of rig_agent_disk_free_bytes (1; from the directory's last answered statfs, so also while statfs fails, and absent before the first): dev is the directory's device number, major:minor (stat's st_dev, as /proc/self/mountinfo), the same for roles that share a file system; join on dir and path to count a file system once.", "dir", "path", "dev")
	dDiskStatErr  = desc("disk_stat_errors_total", "Scrapes that got no disk space for the directory: statfs failed (directory missing, permission) or gave no answer within 500 ms (a hung file system).", "dir", "path")
	dHistCount    = desc("history_diagnoses", "Diagnoses kept in the local history.")
	dHistBytes    = desc("history_bytes", "Encoded size of the local history.")
	dHistDropped  = desc("history_dropped_total", "Diagnoses removed by the history's caps, by cause.", "reason")
	dHistPruneErr = desc("history_prune_errors_total", "Failures to apply the history's caps after a stored diagnosis (retried at the next one).")
	dPubConnected = desc("publish_connected", "1 while the diagnosis publisher is connected to the broker.")
	dPublished    = desc("publish_total", "Diagnoses handled by the MQTT publisher, by result.", "result")
	dCloudEnabled = desc("cloud_enabled", "1 when a cloud link is configured.")
	dLinkUp       = desc("cloud_link_up", "1 when the last contact with the cloud worked.")
	dBytesSent    = desc("cloud_bytes_sent_total", "Bytes sent to the cloud.")
	dBacklog      = desc("cloud_backlog", "Items waiting to be sent to the cloud.")
	dLinkState    = desc("cloud_link_state", "1 for the cloud link's current state: up, down, unauthorized, incompatible, day_cap.", "state")
	dCloudDropped = desc("cloud_dropped_total", "Diagnoses dropped unsent from the full outbox, by whether they were alerts.", "alert")
	dCloudRenum   = desc("cloud_renumbered_total", "Diagnoses given a new seq because the cloud's check-in answer (highest_seq) showed it held their numbers already: the agent's numbering had restarted (history and sequence mark lost). Sent under the new seq, not lost.")
	dCloudReplays = desc("cloud_replays_ignored_total", "Diagnoses replayed by the history under a seq the outbox had renumbered when it first queued them (a stop between the outbox commit and the history's forward cursor): not queued again, as they went under their new seq.")
	dCloudReqFail = desc("cloud_request_failures_total", "Requests to the cloud that failed (network error, timeout, refusal); their items are kept and retried.")
	dCloudCredErr = desc("cloud_credential_errors_total", "Requests to the cloud not made because the credential file (cloud.credential_file) could not be read; link state unauthorized, retried.")
	dCloudUpLost  = desc("cloud_upload_readings_lost_total", "Readings of an upload part the cloud asked for that the reading buffer removed (full, too old) after the part was built and before the cloud took it: the part went without them.")
	dCloudUpConfl = desc("cloud_upload_conflicts_total", "Upload parts the cloud answered conflict: it kept another copy of the part number (usually the part's first copy, when the buffer removed some of its readings before a retry) and did not store this one; the upload went on with the next part.")
	dCloudUpRef   = desc("cloud_upload_parts_refused_total", "Refusals of upload parts by the cloud as invalid (400, 413, 422; not stored): the first builds the part anew under the cloud's current limits, a refusal of the new build also counts as a request failure (link incompatible, retried at cloud.backoff_max).")
	dCloudUpReb   = desc("cloud_upload_parts_rebuilt_total", "Upload parts built anew before the cloud stored them: refused as invalid once, or too large for the day's byte budget (cloud.bandwidth_bytes_per_day) even on a new UTC day; no reading is lost.")
	dCloudUpGone  = desc("cloud_uploads_gone_total", "Upload requests ended because the cloud answered one of their parts 404 or 410: it no longer knew the request (cancelled, expired or removed since the check-in that listed it); the readings not sent yet were not sent.")
	dCheckinRef   = desc("cloud_checkins_refused_total", "Check-ins the cloud refused as invalid (400, 413, 422); diagnoses are sent on with the last limits and the agent checks in again at the regular interval.")
	dCloudObErr   = desc("cloud_outbox_errors_total", "Failures of the forwarder's outbox file (<agent.data_dir>/outbox.db) while it sent: each is logged and retried after a backoff (1 s doubling to 5 min); the forwarder and the agent keep running, the diagnoses stay in the history.")
	dCloudRefused = desc("cloud_refused_total", "Diagnoses never stored by the cloud for good: by=agent (invalid for the contract, too large), by=cloud (rejected, conflict).", "by")
	dUpdState     = desc("update_state", "1 for the model-update state machine's state (idle, checking, downloading, verifying, staged, canary, committing, committed, rolling_back, failed, incompatible).", "state")
	dUpdInstalled = desc("update_installed_info", "The model release installed by the updater (path \"\": the bundle the agent was installed with).", "version", "path")
	dUpdAttempts  = desc("update_attempts", "Failed attempts of a release still published; at update.max_attempts it is given up.", "path")
	dUpdRollbacks = desc("update_rollbacks_total", "Committed releases rolled back on this rig (persisted).")
	dUpdCycleErr  = desc("update_cycle_errors_total", "Update cycles that ended with an error since the start, by reason (update.CycleErrorReasons: unauthorized, metadata, too_long, download, budget, disk_full, verify, mismatch, incompatible, offer, no_windows, canary, stale, rollback, activate, watchdog, other).", "reason")
	dUpdDowngrade = desc("update_downgrades_refused_total", "Offers of a release older than the installed one refused since the start because it is not the agent's kept previous bundle (each offer counted once; state incompatible).")
	dUpdRetries   = desc("update_retries", "Update cycles in a row that a transient error ended (the repository unreachable, a download cut or refused); the updater tries again after a short backoff (5s doubling to 5m, at most update.check_interval). 0: no retry pending.")
	dUpdChecked   = desc("update_last_check_timestamp_seconds", "When the TUF metadata was last refreshed (Unix time).")
	dBrkClients   = desc("broker_clients", "Clients connected to the embedded MQTT broker (the agent's own included).")
	dBrkMessages  = desc("broker_messages_total", "PUBLISH packets the embedded broker received from clients or sent to them, by direction.", "direction")
	dBrkSessions  = desc("broker_sessions", "Sessions the embedded broker stores: connected clients and those away with a persistent session, kept broker.limits.session_expiry, at most broker.limits.max_sessions.")
	dBrkSessEnd   = desc("broker_sessions_removed_total", "Sessions of clients away the embedded broker removed, by reason: expired (away longer than broker.limits.session_expiry), evicted (the session away the longest, for a new client id over broker.limits.max_sessions).", "reason")
	dBrkInflight  = desc("broker_inflight_messages", "QoS 1 and 2 messages the embedded broker holds now (sent and unacknowledged, or waiting for a client away).")
	dBrkDropped   = desc("broker_dropped_total", "Messages the embedded broker dropped (data loss), by reason: queue_full (a client's outbound queue was full), inflight_full (a client held broker.limits.max_inflight already), session_removed (held for a client away whose session expired or was evicted).", "reason")
	dBrkHeld      = desc("broker_held_back_total", "Gateway publishes the embedded broker held back while the ingest was behind (back-pressure).")
	dBrkHeldSec   = desc("broker_held_back_seconds_total", "Total time gateway publishes were held back.")
	dBrkHoldTO    = desc("broker_hold_timeouts_total", "Held-back publishes that waited the longest hold and went on anyway (may then be dropped).")
	dBrkRejected  = desc("broker_rejected_publishes_total", "Publishes the embedded broker refused unacknowledged while draining at stop (gateways resend them).")
	dBrkRefused   = desc("broker_refused_connections_total", "Connections the embedded broker refused, by reason: takeover (a client id reserved to the ingest or the diagnosis publisher without their login), gate (before the ingest had subscribed; clients retry), connecting (over the cap on connections that have not yet sent CONNECT).", "reason")
	dPlugRunning  = desc("plugin_running", "1 while the codec plugin's process is up.", "plugin")
	dPlugCalls    = desc("plugin_calls_total", "Decode calls to the codec plugin.", "plugin")
	dPlugFailures = desc("plugin_failures_total", "Codec plugin failures, by kind: crash (died during a call), timeout (hung; killed), too_large (reply over plugin.MaxReplyBytes; killed), start (failed to start).", "plugin", "kind")
	dPlugErrors   = desc("plugin_payload_errors_total", "Payloads the codec plugin refused as invalid (each also an ingest rejection).", "plugin")
	dPlugFailed   = desc("plugin_failed_calls_total", "Decode calls that failed because of the plugin, not the payload (crash, timeout, not running; each also rejected as plugin_failed).", "plugin")
	dPlugRestarts = desc("plugin_restarts_total", "Codec plugin processes started again after a failure.", "plugin")
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *snapshot) Collect(ch chan<- prometheus.Metric) {
	o := c.s.opts
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(dReady, b2f(len(c.s.notReady()) == 0))
	if lv := o.Liveness; lv != nil {
		gauge(dStallAfter, lv.Limit().Seconds())
		for _, l := range lv.Loops() {
			gauge(dLoopBeat, float64(l.LastBeat.UnixNano())/1e9, l.Name)
			gauge(dLoopStalled, b2f(l.Stalled), l.Name)
		}
	}
	ac := c.s.access
	counter(dAPIRefused, ac.refusedHost.Load(), "host")
	counter(dAPIRefused, ac.refusedAuth.Load(), "unauthorized")
	counter(dAPIRefused, ac.refusedRate.Load(), "rate_limited")
	gauge(dBuild, 1, o.Version, o.AgentID)
	sv := c.s.served()
	provider := "cpu"
	if len(sv.Model.Providers) > 0 {
		provider = string(sv.Model.Providers[0])
	}
	gauge(dModel, 1, sv.Manifest.Name, sv.Manifest.Version, string(sv.Model.Precision), provider)
	if o.Update != nil {
		us := o.Update.Status()
		for _, st := range update.StateNames {
			gauge(dUpdState, b2f(us.State == st), string(st))
		}
		gauge(dUpdInstalled, 1, us.Installed.Version, us.Installed.Path)
		for path, n := range us.Attempts {
			gauge(dUpdAttempts, float64(n), path)
		}
		counter(dUpdRollbacks, uint64(us.Rollbacks))
		for reason, n := range us.CycleErrors {
			counter(dUpdCycleErr, n, reason)
		}
		counter(dUpdDowngrade, us.DowngradesRefused)
		gauge(dUpdRetries, float64(us.Retries))
		if us.LastCheck != nil {
			gauge(dUpdChecked, float64(us.LastCheck.At.UnixNano())/1e9)
		}
	}

	is := o.Ingest.Stats()
	gauge(dConnected, b2f(is.Connected))
	counter(dReadings, is.Readings)
	gauge(dRate, is.ReadingsPerSecond)
	counter(dMessages, is.Messages)
	counter(dMsgBytes, is.Bytes)
	for r, n := range is.Rejected {
		counter(dRejected, n, string(r))
	}
	counter(dGaps, is.Gaps)
	counter(dStoreErr, is.StoreErrors)
	counter(dDecodeFail, is.DecodeFailures)
	counter(dPluginWait, is.PluginWaits)
	counter(dFutureUnsync, is.FutureUnsynced)
	counter(dOldUnsync, is.OldUnsynced)
	counter(dPluginHeld, is.PluginHeld)
	counter(dConnFail, is.ConnectFailures, "connect")
	counter(dConnFail, is.ConnectionLost, "lost")
	gauge(dInFlight, float64(is.InFlight))
	buckets := map[float64]uint64{}
	for _, b := range is.AckLatency.Buckets {
		if b.UpperBound != math.MaxInt64 {
			buckets[b.UpperBound.Seconds()] = b.Count
		}
	}
	ch <- prometheus.MustNewConstHistogram(dAck, is.AckLatency.Count, is.AckLatency.Sum.Seconds(), buckets)

	bs := o.Buffer.Stats()
	gauge(dBufReadings, float64(bs.Records))
	gauge(dBufBytes, float64(bs.Bytes))
	gauge(dBufFile, float64(bs.FileBytes))
	age := 0.0
	if !bs.Oldest.IsZero() {
		age = o.Now().Sub(bs.Oldest).Seconds()
	}
	gauge(dBufOldest, age)
	counter(dBufAppended, bs.Appended)
	counter(dBufRejected, bs.Rejected)
	counter(dBufCommitErr, bs.CommitErrors)
	for _, d := range []struct {
		reason   string
		released bool
		n        uint64
	}{
		{buffer.ReasonMaxBytes, true, bs.Dropped.ReleasedByBytes}, {buffer.ReasonMaxAge, true, bs.Dropped.ReleasedByAge},
		{buffer.ReasonMaxBytes, false, bs.Dropped.UnreleasedByBytes}, {buffer.ReasonMaxAge, false, bs.Dropped.UnreleasedByAge},
	} {
		counter(dBufDropped, d.n, d.reason, strconv.FormatBool(d.released))
	}

	ws := o.Windowing.Stats()
	counter(dWindows, ws.Diagnosed, "diagnosed")
	counter(dWindows, ws.Failed, "failed")
	gauge(dPending, float64(ws.Pending))
	counter(dLate, ws.LateReadings)
	counter(dWinErrors, ws.StoreErrors, "store")
	counter(dWinErrors, ws.SinkErrors, "sink")
	hs := o.History.Stats()
	gauge(dLastSeq, float64(hs.LastSeq))
	last, made := 0.0, ws.LastDiagnosis
	if made.IsZero() {
		// The runner (new after a restart or a model update) has made
		// none yet: the newest diagnosis is the history's, as for
		// dLastSeq.
		if d, ok, err := o.History.Latest(""); err == nil && ok {
			made = d.CreatedAt
		}
	}
	if !made.IsZero() {
		last = float64(made.UnixNano()) / 1e9
	}
	gauge(dLastTime, last)
	gauge(dHistCount, float64(hs.Count))
	gauge(dHistBytes, float64(hs.Bytes))
	for _, r := range []string{"max_count", "max_bytes", "max_age"} {
		counter(dHistDropped, hs.Dropped[r], r)
	}
	counter(dHistPruneErr, hs.PruneErrors)

	if o.Disk != nil {
		for _, r := range o.Disk.Sample(context.Background()) {
			counter(dDiskStatErr, r.Failures, r.Role, r.Path)
			if r.Err == nil {
				gauge(dDiskFree, float64(r.Free), r.Role, r.Path)
				gauge(dDiskSize, float64(r.Size), r.Role, r.Path)
			}
			if r.FileSystem != "" {
				gauge(dDiskInfo, 1, r.Role, r.Path, r.FileSystem)
			}
		}
	}

	if o.Publisher != nil {
		ps := o.Publisher.Stats()
		gauge(dPubConnected, b2f(ps.Connected))
		counter(dPublished, ps.Published, "published")
		counter(dPublished, ps.Failed, "failed")
		counter(dPublished, ps.Dropped, "dropped")
	}
	if o.Broker != nil {
		bs := o.Broker.Stats()
		nonNeg := func(v int64) uint64 { return uint64(max(v, 0)) }
		gauge(dBrkClients, float64(bs.ClientsConnected))
		counter(dBrkMessages, nonNeg(bs.MessagesReceived), "received")
		counter(dBrkMessages, nonNeg(bs.MessagesSent), "sent")
		gauge(dBrkInflight, float64(bs.Inflight))
		gauge(dBrkSessions, float64(bs.Sessions))
		counter(dBrkSessEnd, bs.SessionsExpired, "expired")
		counter(dBrkSessEnd, bs.SessionsEvicted, "evicted")
		counter(dBrkDropped, bs.SessionMessagesDropped, "session_removed")
		counter(dBrkDropped, nonNeg(bs.MessagesDropped), "queue_full")
		counter(dBrkDropped, nonNeg(bs.InflightDropped), "inflight_full")
		counter(dBrkHeld, bs.HeldBack)
		ch <- prometheus.MustNewConstMetric(dBrkHeldSec, prometheus.CounterValue, bs.HeldBackTime.Seconds())
		counter(dBrkHoldTO, bs.HoldTimeouts)
		counter(dBrkRejected, bs.Rejected)
		counter(dBrkRefused, bs.TakeoversRefused, "takeover")
		counter(dBrkRefused, bs.GateRefused, "gate")
		counter(dBrkRefused, bs.ConnectingRefused, "connecting")
	}
	ls := o.Link.State()
	gauge(dCloudEnabled, b2f(o.CloudEnabled))
	gauge(dLinkUp, b2f(ls.Connected))
	counter(dBytesSent, ls.BytesSent)
	gauge(dBacklog, float64(ls.Backlog))
	if ls.State != "" {
		gauge(dLinkState, 1, ls.State)
	}
	counter(dCloudDropped, ls.Dropped-min(ls.DroppedAlerts, ls.Dropped), "false")
	counter(dCloudDropped, ls.DroppedAlerts, "true")
	counter(dCloudRenum, ls.Renumbered)
	counter(dCloudReplays, ls.ReplaysIgnored)
	counter(dCloudReqFail, ls.Failures)
	counter(dCloudCredErr, ls.CredentialErrors)
	counter(dCloudUpLost, ls.UploadReadingsLost)
	counter(dCloudUpConfl, ls.UploadConflicts)
	counter(dCloudUpRef, ls.UploadPartsRefused)
	counter(dCloudUpReb, ls.UploadPartsRebuilt)
	counter(dCloudUpGone, ls.UploadsGone)
	counter(dCheckinRef, ls.CheckinsRefused)
	counter(dCloudObErr, ls.OutboxErrors)
	counter(dCloudRefused, ls.Invalid, "agent")
	counter(dCloudRefused, ls.Rejected, "cloud")

	if o.Plugins != nil {
		for _, p := range o.Plugins.Stats() {
			gauge(dPlugRunning, b2f(p.Running), p.Name)
			counter(dPlugCalls, p.Calls, p.Name)
			counter(dPlugFailures, p.Crashes, p.Name, "crash")
			counter(dPlugFailures, p.Timeouts, p.Name, "timeout")
			counter(dPlugFailures, p.TooLarge, p.Name, "too_large")
			counter(dPlugFailures, p.StartFailures, p.Name, "start")
			counter(dPlugErrors, p.Errors, p.Name)
			counter(dPlugFailed, p.Failed, p.Name)
			counter(dPlugRestarts, p.Restarts, p.Name)
		}
	}
}
