package codec_test

import (
	"fmt"
	"testing"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// benchPayload encodes n sample readings with c (json: one reading).
func benchPayload(b *testing.B, c codec.Codec, n int) []byte {
	rs := sample(n, true)
	for i := range rs {
		rs[i].Seq = 17
	}
	p, err := c.Encode(nil, rs)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecode decodes payloads of 1 and 64 readings into a reused
// slice, as the agent does. "names" interns sensor ids through
// Binding.Names (the agent's setting); "nonames" allocates each id.
//
//	go test -run '^$' -bench Decode -benchmem ./codec/
func BenchmarkDecode(b *testing.B) {
	for _, name := range codec.Builtins {
		c, _ := codec.Lookup(name)
		for _, n := range []int{1, 64} {
			if n > maxPer(c) {
				continue
			}
			for _, names := range []bool{true, false} {
				label := "names"
				if !names {
					label = "nonames"
				}
				b.Run(fmt.Sprintf("%s/n=%d/%s", name, n, label), func(b *testing.B) {
					p := benchPayload(b, c, n)
					bind := binding()
					if !names {
						bind.Names = nil
					}
					dst := make([]reading.Reading, 0, n)
					b.SetBytes(int64(len(p)))
					b.ReportAllocs()
					for b.Loop() {
						var err error
						dst, err = c.Decode(bind, p, dst[:0])
						if err != nil || len(dst) != n {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
				})
			}
		}
	}
}

// BenchmarkEncode encodes 1 and 64 readings into a reused buffer.
func BenchmarkEncode(b *testing.B) {
	for _, name := range codec.Builtins {
		c, _ := codec.Lookup(name)
		for _, n := range []int{1, 64} {
			if n > maxPer(c) {
				continue
			}
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				rs := sample(n, true)
				for i := range rs {
					rs[i].Seq = 17
				}
				var buf []byte
				b.ReportAllocs()
				for b.Loop() {
					var err error
					buf, err = c.Encode(buf[:0], rs)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(buf)))
			})
		}
	}
}
