package sim

import (
	"context"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// BenchmarkSimulate measures simulated seconds per wall second (the
// sim-s/s metric) for one 60 s ZeMA cycle and one 20 s excavator cycle,
// warm-up excluded.
//
//	go test ./internal/sim -run '^$' -bench Simulate -benchtime 5x
func BenchmarkSimulate(b *testing.B) {
	for _, name := range []string{"zema-testrig.yaml", "excavator.yaml", "skab-testbed.yaml"} {
		b.Run(name, func(b *testing.B) {
			cfg := loadConfig(b, name)
			s, err := New(cfg, Options{Seed: 1, WarmupCycles: -1, Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			err = s.Cycles(context.Background(), b.N, func(*Cycle) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)*s.WindowS()/time.Since(start).Seconds(), "sim-s/s")
		})
	}
}

// BenchmarkStream measures the reading stream (batches per 10 ms) of the
// ZeMA rig: readings per wall second.
func BenchmarkStream(b *testing.B) {
	cfg := loadConfig(b, "zema-testrig.yaml")
	s, err := New(cfg, Options{Seed: 1, WarmupCycles: -1, Duration: time.Duration(b.N) * time.Second, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	start := time.Now()
	err = s.Stream(context.Background(), time.Unix(0, 0), func(rs []reading.Reading) error { n += len(rs); return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "readings/s")
}
