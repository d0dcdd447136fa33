// Package infer is the edge inference path: it opens a model bundle for a
// rig in ONNX Runtime, runs prepared windows through it and turns the
// outputs into diagnoses. The rig agent uses it, and so do `rigctl model
// eval` and `rigctl bench infer`, so that evaluation measures exactly what
// runs on the rig.
//
// # Basics
//
//	if err := infer.Init(""); err != nil { ... } // $ONNXRUNTIME_LIB, once per process (Open does it too)
//	m, err := infer.Open(bundleDir, cfg, infer.Options{})
//	if err != nil { ... } // wrong rig, tampered file, graph/manifest mismatch: errors.Is bundle.ErrMismatch, bundle.ErrInvalid, ErrGraph
//	defer m.Close()
//	r, _ := prep.NewResampler(m.Spec())
//	w := r.Resample(start, readings)
//	out, err := m.Run([]*prep.Window{w})
//	d, err := m.Diagnose(&out.Results[0], w, out.Elapsed)
//
// Open checks the bundle (file digests, rig type, firmware-config digest,
// input sensors, class heads against the config's targets), picks the
// model file (int8 when the bundle has one, unless Options.Precision says
// otherwise) and the anomaly thresholds calibrated for it, reads its
// graph's inputs and outputs and refuses a mismatch with the manifest at
// once instead of at the first run, refuses a file whose ONNX metadata
// digests (input spec, config) are not the manifest's, and creates the
// session: 1 intra-op and 1 inter-op thread by default, sequential
// execution, every graph optimisation, session.disable_quant_qdq=1 for
// int8 files (both schemes; see models/onnx/README.md).
//
// # Sessions and tensors
//
// A Model keeps two kinds of session on the same verified model bytes and
// options: a session bound to preallocated B=1 tensors (onnxruntime_go's
// AdvancedSession), used for single windows, whose runs allocate nothing
// in Go; and a dynamic-batch session created by the first Run of several
// windows, with output tensors preallocated per batch size. Measured on
// the CPU provider both run a B=1 window equally fast; letting ONNX
// Runtime allocate outputs costs about 10 µs more per run (see
// BenchmarkSessionKind and docs/inference.md). Tensors are destroyed after
// the sessions that use them, in Close.
//
// # Execution providers
//
// Options.Providers lists the preferred providers ("cuda", "tensorrt");
// each that cannot be added is skipped with a warning on the logger, and
// the CPU provider is always the fallback, so the same configuration
// works on a Jetson and on a CPU-only box. Info reports what is used. The
// GPU providers need the GPU build of ONNX Runtime (see docs/inference.md).
//
// # Outputs
//
// Result maps the graph outputs by the manifest's heads: health per
// component, class probabilities per target, anomaly scores per sensor
// (the error divided by its calibrated threshold, so 1 is the threshold;
// sensors in the window's Missing list are Masked with score 0), RUL.
// Diagnose adds statuses, explanations (the sensors driving each
// component), findings and recommendations from the one table in
// recommend.go. It judges no class target while an input sensor the
// bundle's models were not trained to do without (bundle
// Manifest.DropoutSensors) is missing from the window, or missing in more
// than MaxMissingFraction of it: every class head reads every sensor.
// Nor, then, the component health of the health head, which reads the
// node states every sensor feeds: every status is unknown.
//
// # Caveats
//
//   - One ONNX Runtime environment per process: Init's first call decides
//     the library, a failed Init is final, and the environment is never
//     torn down.
//   - A Model is safe for concurrent use but serialises runs (see Model).
//   - Run returns memory the caller owns; RunInto reuses the caller's
//     Result. Windows are only read during the call.
//   - Non-finite input values and non-finite model outputs are errors, not
//     diagnoses.
package infer
