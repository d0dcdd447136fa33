package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// BenchmarkIngestAlerts is BenchmarkIngestParallel with a high anomaly
// on two components in every diagnosis: the alert path (its per-key
// locks and the upsert) on every batch, 4 writers on one rig's alerts.
//
//	eval "$(make -s env)"; go test -run '^$' -bench IngestAlerts -benchtime 50x ./cloud/internal/store/
func BenchmarkIngestAlerts(b *testing.B) {
	_, st, p := agentStore(b)
	ctx := context.Background()
	const batch = 1000
	start := time.Now()
	var next atomic.Uint64
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			seq := (next.Add(1)-1)*batch + 1
			its := items(seq, batch)
			for i := range its {
				its[i].Diagnosis.Anomalies = []diag.Anomaly{
					{Fault: "leakage", Severity: diag.SeverityHigh, Confidence: 0.8, Components: []string{"pump"}},
					{Fault: "degraded", Severity: diag.SeverityHigh, Confidence: 0.7, Components: []string{"valve"}},
				}
			}
			if _, err := st.IngestDiagnoses(ctx, p, its); err != nil {
				panic(fmt.Sprint(err))
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
}
