package diskspace

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestMonitorLogs: what docs/agent.md ("Disk space") promises of the
// log. A run of failures of a directory logs one "disk space unknown"
// warning, however long it lasts, and its end one "disk space known
// again"; a run that starts within a minute (warnEvery) of the last
// warning is not logged, and neither is its end. Each line names the
// role and the path; the warning carries statfs's error.
func TestMonitorLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		// No time: the lines are compared whole.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	m, err := NewMonitor([]Dir{{"store", "/s"}, {"updates", "/u"}}, time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	failing := false // /u's statfs; /s always answers
	m.stat = func(p string) (Usage, error) {
		if p == "/u" && failing {
			return Usage{}, errors.New("statfs /u: no such file or directory")
		}
		return Usage{Free: 7, Size: 9}, nil
	}
	const (
		warn  = `level=WARN msg="disk space unknown" dir=updates path=/u err="statfs /u: no such file or directory"` + "\n"
		known = `level=INFO msg="disk space known again" dir=updates path=/u free_bytes=7` + "\n"
	)
	for i, step := range []struct {
		at   time.Duration // since the start
		fail bool
		want string // logged by this Sample
	}{
		{0, false, ""},
		{15 * time.Second, true, warn},    // a run starts: logged
		{30 * time.Second, true, ""},      // the same run: not again
		{45 * time.Second, true, ""},      //
		{60 * time.Second, false, known},  // its end, logged as it was
		{70 * time.Second, false, ""},     //
		{80 * time.Second, true, warn},    // 65 s after the warning: logged
		{100 * time.Second, false, known}, //
		{110 * time.Second, true, ""},     // 30 s after the last warning: quiet
		{120 * time.Second, true, ""},     //
		{130 * time.Second, false, ""},    // and so is its end
		{140 * time.Second, true, warn},   // a minute after the warning: logged
		{150 * time.Second, false, known},
	} {
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(step.at)
		failing = step.fail
		buf.Reset()
		rs := m.Sample(context.Background())
		if (rs[1].Err != nil) != step.fail || rs[0].Err != nil {
			t.Fatalf("step %d: Sample %+v; want /u failing %v, /s not", i, rs, step.fail)
		}
		if got := buf.String(); got != step.want {
			t.Errorf("step %d (%s, /u failing %v): logged\n%s\nwant\n%s", i, step.at, step.fail, got, step.want)
		}
	}
}
