package cloudapi

import (
	"testing"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// BenchmarkDecodeDiagnosisBatch decodes and validates a batch of 365
// diagnoses (a year of daily ones, as rigctl bench cloud sends them), the
// server's CPU per ingest request before the database:
//
//	cd shared && go test -run '^$' -bench DecodeDiagnosisBatch ./cloudapi/
func BenchmarkDecodeDiagnosisBatch(b *testing.B) {
	ds := make([]diag.Diagnosis, 365)
	for i := range ds {
		ds[i] = sampleDiagnosis(uint64(i + 1))
	}
	body := batchBody(b, ds[0].AgentID, ds...)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeDiagnosisBatch(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ds)), "µs/item")
}
