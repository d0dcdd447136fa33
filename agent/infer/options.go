package infer

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// Provider names an ONNX Runtime execution provider.
type Provider string

// Execution providers. CPU is always available and always the last
// fallback; CUDA and TensorRT need a GPU build of ONNX Runtime (see
// docs/inference.md).
const (
	CPU      Provider = "cpu"
	CUDA     Provider = "cuda"
	TensorRT Provider = "tensorrt"
)

// Limits and defaults of Options.
const (
	// DefaultMaxBatch is Options.MaxBatch's default.
	DefaultMaxBatch = 256
	// MaxThreads caps Options.IntraOpThreads and InterOpThreads.
	MaxThreads = 64
)

// Options configure Open. The zero value is the edge default: the int8
// model when the bundle has one, one intra-op and one inter-op thread, the
// CPU provider, batches of up to DefaultMaxBatch windows.
type Options struct {
	// Precision selects the model file: "" takes the bundle's int8 model
	// when it has one, else its fp32 model; bundle.FP32 or bundle.INT8
	// forces that file, and Open fails when the bundle lacks it.
	Precision bundle.Precision
	// IntraOpThreads is ONNX Runtime's intra-op thread count (0: 1, which
	// is the fastest for the project's small graphs on the measured CPUs;
	// see docs/inference.md). Above 1, spinning is disabled so idle
	// threads do not burn a core between windows.
	IntraOpThreads int
	// InterOpThreads is the inter-op thread count (0: 1). Execution is
	// sequential, so more only matters to providers that use it.
	InterOpThreads int
	// RunCPU makes RunInto measure Result.RunCPU: two reads of the
	// thread's CPU clock around the ONNX Runtime call, outside the wall
	// time it returns. Each read is a system call (3-6 µs on the 2-core
	// development VM), so it is off by default and on in the agent.
	RunCPU bool
	// Providers are the execution providers to try, most preferred first
	// (nil or empty: CPU only). Each GPU provider that cannot be added (a
	// CPU-only ONNX Runtime, no driver, no device) is skipped with a
	// warning on Logger, and CPU is always the final fallback, so Open
	// succeeds on a machine without a GPU. Model.Info reports what is used.
	Providers []Provider
	// DeviceID is the GPU for CUDA and TensorRT (0: the first).
	DeviceID int
	// ProviderOptions are extra provider settings passed to ONNX Runtime
	// as they are, e.g. {TensorRT: {"trt_fp16_enable": "1",
	// "trt_engine_cache_enable": "1", "trt_engine_cache_path": "/var/lib/rig-agent/trt"}}
	// (nil: none). Keys are ONNX Runtime's provider option names. With
	// trt_engine_cache_enable=1, each model file's engines go to a folder
	// of its own under trt_engine_cache_path (EngineCacheDir; ONNX Runtime
	// does not tell two models of one architecture apart by their
	// weights), and the timing cache to trt_engine_cache_path when
	// trt_timing_cache_path is not set.
	ProviderOptions map[Provider]map[string]string
	// EngineCacheKeep is how many models' TensorRT engine folders are
	// kept, those of the models open in this process included (0:
	// DefaultEngineCacheKeep): once a session is created with TensorRT
	// and the engine cache, the least recently opened beyond it are
	// removed and the removal logged. A folder of a model open in this
	// process is never removed, so more are kept while more are open.
	EngineCacheKeep int
	// KeepEngineCache, when true, removes nothing from the engine cache:
	// for a process beside the serving agent (rig-agent --check-model),
	// which does not know the models the agent has open or last opened.
	KeepEngineCache bool
	// MaxBatch caps the number of windows one Run takes (0:
	// DefaultMaxBatch). It bounds the tensors a Model keeps.
	MaxBatch int
	// Logger receives the fallback warnings and the open summary (nil:
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock Diagnose stamps diagnoses with (nil: time.Now).
	Now func() time.Time
	// LibraryPath is passed to Init when Open initialises ONNX Runtime
	// ("": $ONNXRUNTIME_LIB).
	LibraryPath string
}

// validate checks o and returns it with defaults filled.
func (o Options) withDefaults() (Options, error) {
	switch o.Precision {
	case "", bundle.FP32, bundle.INT8:
	default:
		return o, fmt.Errorf("infer: precision %q: want %q, %q or empty (int8 when the bundle has it)",
			o.Precision, bundle.FP32, bundle.INT8)
	}
	for _, n := range []struct {
		name string
		v    *int
	}{{"intra-op threads", &o.IntraOpThreads}, {"inter-op threads", &o.InterOpThreads}} {
		if *n.v < 0 || *n.v > MaxThreads {
			return o, fmt.Errorf("infer: %s: %d is out of range [0, %d] (0 means 1)", n.name, *n.v, MaxThreads)
		}
		if *n.v == 0 {
			*n.v = 1
		}
	}
	seen := map[Provider]bool{}
	for _, p := range o.Providers {
		switch p {
		case CPU, CUDA, TensorRT:
		default:
			return o, fmt.Errorf("infer: execution provider %q: want %q, %q or %q", p, CPU, CUDA, TensorRT)
		}
		if seen[p] {
			return o, fmt.Errorf("infer: execution provider %q is listed twice", p)
		}
		seen[p] = true
	}
	for p := range o.ProviderOptions {
		if p != CUDA && p != TensorRT {
			return o, fmt.Errorf("infer: provider options for %q: only %q and %q take options", p, CUDA, TensorRT)
		}
	}
	if o.DeviceID < 0 {
		return o, fmt.Errorf("infer: device id %d must be >= 0", o.DeviceID)
	}
	if o.EngineCacheKeep < 0 {
		return o, fmt.Errorf("infer: engine cache keep %d must be >= 0 (0 means %d)", o.EngineCacheKeep, DefaultEngineCacheKeep)
	}
	if o.EngineCacheKeep == 0 {
		o.EngineCacheKeep = DefaultEngineCacheKeep
	}
	if o.MaxBatch < 0 {
		return o, fmt.Errorf("infer: max batch %d must be >= 0 (0 means %d)", o.MaxBatch, DefaultMaxBatch)
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Providers = slices.Clone(o.Providers)
	return o, nil
}

// ProviderSettings returns the options Open passes to ONNX Runtime for
// GPU provider p: device_id from DeviceID, then ProviderOptions[p] (which
// may override it). The map is new; the caller owns it.
func (o Options) ProviderSettings(p Provider) map[string]string {
	kv := map[string]string{"device_id": strconv.Itoa(o.DeviceID)}
	maps.Copy(kv, o.ProviderOptions[p])
	return kv
}
