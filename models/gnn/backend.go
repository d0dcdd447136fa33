package gnn

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// ErrBackend is returned (wrapped) when a backend name is unknown or the
// backend cannot start.
var ErrBackend = errors.New("gnn: backend")

// DefaultBackend is the backend used when none is configured: GoMLX's
// pure-Go backend with unlimited worker parallelism inside each op and the
// ops of a graph run one after another. With its default worker pool the
// pure-Go backend deadlocked on 2-core machines (ops waiting on matmul
// sub-tasks exhausted the pool; see ml-notes.md). Its parallel op
// scheduler has a data race in GoMLX v0.26.0 (Reshape reuses a buffer
// another op still reads; go test -race reports it in simplego's
// execReshape), which made long trainings non-deterministic: ops_sequential
// avoids it at about 1.6x the step time (0.070 s against 0.044 s per ZeMA
// step at B=32, `go test ./train -run '^$' -bench TrainStep -benchtime 10x`).
const DefaultBackend = "go"

// xlaConstructor is set by backend_xla.go when the XLA backend is
// compiled in (cgo, without the noxla tag).
var xlaConstructor func(config string) (backends.Backend, error)

var stdoutMu sync.Mutex

// NewBackend starts the GoMLX backend named by config:
//
//   - "" or "go": the pure-Go backend (simplego) with
//     "parallelism=-1,ops_sequential" (see DefaultBackend);
//   - "go:OPTS": the pure-Go backend with simplego's comma-separated
//     options (e.g. "go:parallelism=-1,ops_sequential");
//   - "xla:cpu", "xla:cuda" or "xla:/abs/path/plugin.so": XLA through a
//     PJRT plugin; only in builds with cgo and without the noxla tag, and
//     only with the plugin installed (set GOMLX_NO_AUTO_INSTALL=1 offline).
//
// The environment variable GOMLX_BACKEND is not consulted: the backend is
// a configuration value of the caller, so a missing plugin is an error
// rather than a silent switch.
func NewBackend(config string) (backends.Backend, error) {
	name, opts, _ := strings.Cut(config, ":")
	switch name {
	case "", "go", "simplego":
		if opts == "" {
			opts = "parallelism=-1,ops_sequential"
		}
		// simplego.New prints the parallelism setting on stdout, which
		// would corrupt a caller's JSON output: send it to /dev/null.
		stdoutMu.Lock()
		defer stdoutMu.Unlock()
		saved := os.Stdout
		if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
			os.Stdout = null
			defer func() { os.Stdout = saved; null.Close() }()
		}
		b, err := simplego.New(opts)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBackend, config, err)
		}
		return b, nil
	case "xla":
		if xlaConstructor == nil {
			return nil, fmt.Errorf("%w %q: this binary was built without the XLA backend (it needs cgo and no noxla tag); use \"go\"", ErrBackend, config)
		}
		if opts == "" {
			return nil, fmt.Errorf("%w %q: name the PJRT plugin, e.g. xla:cpu or xla:cuda", ErrBackend, config)
		}
		b, err := xlaConstructor(opts)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v (offline, set GOMLX_NO_AUTO_INSTALL=1 and point at an installed plugin, e.g. xla:/abs/path/pjrt_c_api_cpu_plugin.so)", ErrBackend, config, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%w %q: unknown backend %q (want \"go\", \"go:OPTIONS\" or \"xla:PLUGIN\")", ErrBackend, config, name)
	}
}
