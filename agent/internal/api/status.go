package api

import (
	"net/http"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// StatusBody is the body of GET /status.
type StatusBody struct {
	AgentID   string        `json:"agent_id"`
	Version   string        `json:"version"`
	StartedAt time.Time     `json:"started_at"`
	UptimeS   float64       `json:"uptime_s"`
	Ready     bool          `json:"ready"`
	NotReady  []string      `json:"not_ready,omitempty"`
	Rig       RigStatus     `json:"rig"`
	Model     ModelStatus   `json:"model"`
	Broker    BrokerStatus  `json:"broker"`
	Ingest    IngestStatus  `json:"ingest"`
	Buffer    BufferStatus  `json:"buffer"`
	Windowing WindowStatus  `json:"windowing"`
	Diagnoses HistoryStatus `json:"diagnoses"`
	// Detector is the anomaly detector's state (absent without one):
	// "calibrating" while diagnoses are not judged yet.
	Detector *DetectorState `json:"detector,omitempty"`
	Publish  *PublishState  `json:"publish,omitempty"`
	Cloud    CloudStatus    `json:"cloud"`
	// Update is the model-update state (absent when update.url is not
	// configured).
	Update *UpdateStatus `json:"update,omitempty"`
}

// RigStatus names the rig.
type RigStatus struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
}

// ModelStatus names the model in use.
type ModelStatus struct {
	Bundle    string   `json:"bundle"`
	Version   string   `json:"version"`
	Precision string   `json:"precision"`
	Providers []string `json:"providers"`
}

// BrokerStatus describes the MQTT connection.
type BrokerStatus struct {
	URL       string `json:"url"`
	Embedded  bool   `json:"embedded"`
	Connected bool   `json:"connected"`
}

// IngestStatus summarises the ingest.
type IngestStatus struct {
	ReadingsPerS float64           `json:"readings_per_s"`
	Readings     uint64            `json:"readings"`
	Messages     uint64            `json:"messages"`
	Rejected     map[string]uint64 `json:"rejected"`
	Gaps         uint64            `json:"gaps"`
	StoreErrors  uint64            `json:"store_errors"`
	DecodeFails  uint64            `json:"decode_failures"`
	InFlight     int               `json:"in_flight"`
	AckP99Ms     float64           `json:"ack_p99_ms"`
}

// BufferStatus summarises the reading buffer.
type BufferStatus struct {
	Readings   uint64            `json:"readings"`
	Bytes      int64             `json:"bytes"`
	FileBytes  int64             `json:"file_bytes"`
	LastSeq    uint64            `json:"last_seq"`
	OldestAgeS float64           `json:"oldest_age_s"`
	Dropped    map[string]uint64 `json:"dropped"`
	Rejected   uint64            `json:"rejected"`
}

// WindowStatus summarises the windowing.
type WindowStatus struct {
	Alignment    string     `json:"alignment"`
	PeriodS      float64    `json:"period_s"`
	LengthS      float64    `json:"length_s"`
	Pending      int        `json:"pending"`
	Diagnosed    uint64     `json:"diagnosed"`
	Failed       uint64     `json:"failed"`
	StoreErrors  uint64     `json:"store_errors"`
	SinkErrors   uint64     `json:"sink_errors"`
	LateReadings uint64     `json:"late_readings"`
	Cursor       uint64     `json:"cursor"`
	LastWindow   *time.Time `json:"last_window,omitempty"`
	Watermark    *time.Time `json:"watermark,omitempty"`
}

// HistoryStatus summarises the diagnosis history.
type HistoryStatus struct {
	Count    uint64            `json:"count"`
	Bytes    int64             `json:"bytes"`
	FirstSeq uint64            `json:"first_seq"`
	LastSeq  uint64            `json:"last_seq"`
	Dropped  map[string]uint64 `json:"dropped"`
	// PruneErrors counts failures to apply the caps (retried).
	PruneErrors uint64         `json:"prune_errors"`
	Latest      *LatestSummary `json:"latest,omitempty"`
}

// LatestSummary is the newest diagnosis in brief.
type LatestSummary struct {
	Seq         uint64      `json:"seq"`
	CreatedAt   time.Time   `json:"created_at"`
	WindowStart time.Time   `json:"window_start"`
	Status      diag.Status `json:"status"`
	// Calibrating marks an unknown status that only means the detector
	// is still calibrating.
	Calibrating bool     `json:"calibrating,omitempty"`
	Health      float64  `json:"health"`
	Missing     []string `json:"missing,omitempty"`
	Stale       []string `json:"stale,omitempty"`
}

// PublishState summarises the MQTT publisher.
type PublishState struct {
	Topic     string `json:"topic"`
	Connected bool   `json:"connected"`
	Published uint64 `json:"published"`
	Failed    uint64 `json:"failed"`
	Dropped   uint64 `json:"dropped"`
	Queued    int    `json:"queued"`
}

// CloudStatus is the cloud link.
type CloudStatus struct {
	Enabled bool `json:"enabled"`
	LinkState
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Status builds the /status body.
func (s *Server) Status() StatusBody {
	o := s.opts
	now := o.Now()
	sv := s.served()
	b := StatusBody{
		AgentID: o.AgentID, Version: o.Version, StartedAt: o.Started.UTC(), UptimeS: now.Sub(o.Started).Seconds(),
		Rig:   RigStatus{ID: o.Rig.Equipment.ID, Type: o.Rig.RigType, Name: o.Rig.Name},
		Model: ModelStatus{Bundle: sv.Manifest.Name, Version: sv.Manifest.Version, Precision: string(sv.Model.Precision)},
		Cloud: CloudStatus{Enabled: o.CloudEnabled, LinkState: o.Link.State()},
	}
	for _, p := range sv.Model.Providers {
		b.Model.Providers = append(b.Model.Providers, string(p))
	}
	b.NotReady = s.notReady()
	b.Ready = len(b.NotReady) == 0

	is := o.Ingest.Stats()
	b.Broker = BrokerStatus{URL: o.BrokerURL, Embedded: o.Embedded, Connected: is.Connected}
	b.Ingest = IngestStatus{
		ReadingsPerS: is.ReadingsPerSecond, Readings: is.Readings, Messages: is.Messages, Gaps: is.Gaps,
		StoreErrors: is.StoreErrors, DecodeFails: is.DecodeFailures,
		InFlight: is.InFlight, AckP99Ms: float64(is.AckLatency.P99.Microseconds()) / 1000, Rejected: map[string]uint64{},
	}
	for r, n := range is.Rejected {
		if n > 0 {
			b.Ingest.Rejected[string(r)] = n
		}
	}

	bs := o.Buffer.Stats()
	b.Buffer = BufferStatus{
		Readings: bs.Records, Bytes: bs.Bytes, FileBytes: bs.FileBytes, LastSeq: bs.LastSeq, Rejected: bs.Rejected,
		Dropped: map[string]uint64{
			"released_max_bytes": bs.Dropped.ReleasedByBytes, "released_max_age": bs.Dropped.ReleasedByAge,
			"unreleased_max_bytes": bs.Dropped.UnreleasedByBytes, "unreleased_max_age": bs.Dropped.UnreleasedByAge,
		},
	}
	if !bs.Oldest.IsZero() {
		b.Buffer.OldestAgeS = now.Sub(bs.Oldest).Seconds()
	}

	ws := o.Windowing.Stats()
	b.Windowing = WindowStatus{
		Alignment: string(ws.Alignment), PeriodS: ws.Schedule.Period.Seconds(), LengthS: ws.Schedule.Length.Seconds(),
		Pending: ws.Pending, Diagnosed: ws.Diagnosed, Failed: ws.Failed, LateReadings: ws.LateReadings,
		StoreErrors: ws.StoreErrors, SinkErrors: ws.SinkErrors,
		Cursor: ws.Cursor, LastWindow: timePtr(ws.LastWindow), Watermark: timePtr(ws.Watermark),
	}

	hs := o.History.Stats()
	b.Diagnoses = HistoryStatus{Count: hs.Count, Bytes: hs.Bytes, FirstSeq: hs.FirstSeq, LastSeq: hs.LastSeq, Dropped: hs.Dropped,
		PruneErrors: hs.PruneErrors}
	if d, ok, err := o.History.Latest(o.Rig.Equipment.ID); err == nil && ok {
		b.Diagnoses.Latest = &LatestSummary{
			Seq: d.Seq, CreatedAt: d.CreatedAt, WindowStart: d.Window.Start, Status: d.Status, Health: d.Health,
			Calibrating: d.Calibrating,
			Missing:     d.Window.Missing, Stale: d.Window.Stale,
		}
	}
	b.Detector = detectorState(sv)
	b.Update = s.updateStatus()
	if o.Publisher != nil {
		ps := o.Publisher.Stats()
		b.Publish = &PublishState{Topic: o.PublishTopic, Connected: ps.Connected, Published: ps.Published,
			Failed: ps.Failed, Dropped: ps.Dropped, Queued: ps.Queued}
	}
	return b
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}
