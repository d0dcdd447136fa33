package infer_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// The edge path for one window of readings. (Compiled, not run: it needs
// a trained bundle and ONNX Runtime.)
func ExampleOpen() {
	cfg, err := rig.Load("firmware-configs/zema-testrig.yaml")
	if err != nil {
		log.Fatal(err)
	}
	m, err := infer.Open("models/zema-testrig", cfg, infer.Options{Providers: []infer.Provider{infer.CUDA}})
	switch {
	case errors.Is(err, bundle.ErrMismatch):
		log.Fatalf("the bundle is for another rig: %v", err)
	case err != nil:
		log.Fatal(err)
	}
	defer m.Close()

	r, err := prep.NewResampler(m.Spec())
	if err != nil {
		log.Fatal(err)
	}
	var readings []reading.Reading // from the buffer
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	w := r.Resample(start, readings)

	var res infer.Result
	took, err := m.RunInto(&res, w) // allocation-free after the first call
	if err != nil {
		log.Fatal(err)
	}
	d, err := m.Diagnose(&res, w, took)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Status, len(d.Recommendations))
}
