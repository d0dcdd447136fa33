package infer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable Init reads when it is given no
// library path: the path of libonnxruntime.so.1 (ONNX Runtime 1.30.x).
const LibraryEnv = "ONNXRUNTIME_LIB"

// WantVersion is the ONNX Runtime release line this package is built and
// tested against (github.com/yalue/onnxruntime_go v1.27.0 speaks its C API
// version 24). Init refuses any other release.
const WantVersion = "1.30."

// ErrLibrary is returned (wrapped) by Init, and by Open through it, when
// the ONNX Runtime shared library cannot be found, loaded or is the wrong
// version. The message names the path and what to do.
var ErrLibrary = errors.New("ONNX Runtime library")

var env struct {
	once sync.Once
	path string // the library Init loaded (or was asked to load)
	err  error
}

// Init loads the ONNX Runtime shared library at libPath and creates the
// process's one ONNX Runtime environment. An empty libPath means the
// value of $ONNXRUNTIME_LIB.
//
// Only the first call does the work; every later call returns its result
// (so a failed Init is final for the process), or an error when it names
// another library than the first. Open calls Init("") itself, so calling
// Init explicitly is only needed to choose the library or to fail early.
// When another package of the process already created the environment,
// Init adopts it after checking its version. The environment lives until
// the process exits: ONNX Runtime allows one per process, and tearing it
// down under open sessions would crash them.
//
// Init is safe for concurrent use.
func Init(libPath string) error {
	if libPath == "" {
		libPath = os.Getenv(LibraryEnv)
	}
	env.once.Do(func() {
		env.path = libPath
		env.err = initEnv(libPath)
	})
	if env.err == nil && libPath != "" && libPath != env.path && env.path != "" {
		return fmt.Errorf("infer: %w: the environment was initialised from %s; cannot switch to %s in the same process",
			ErrLibrary, env.path, libPath)
	}
	return env.err
}

// initEnv does Init's work once.
func initEnv(path string) error {
	if ort.IsInitialized() {
		// Someone else in this process (a test helper, another package)
		// created the environment: use it if the version is right.
		return checkVersion(ort.GetVersion(), "the environment already created in this process")
	}
	if err := checkLibraryPath(path); err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		if strings.Contains(err.Error(), "ORT API base: 2") {
			// The library does not offer the C API version the bindings
			// need: an older (or much newer) ONNX Runtime.
			return fmt.Errorf("infer: %w: %s does not provide the C API of ONNX Runtime %sx (wrong version?): %w",
				ErrLibrary, path, WantVersion, err)
		}
		return fmt.Errorf("infer: %w: load %s: %w", ErrLibrary, path, err)
	}
	if err := checkVersion(ort.GetVersion(), path); err != nil {
		_ = ort.DestroyEnvironment()
		return err
	}
	return nil
}

// checkLibraryPath explains a library path that cannot be loaded before
// ONNX Runtime's loader is asked.
func checkLibraryPath(path string) error {
	if path == "" {
		return fmt.Errorf("infer: %w: no library path given and $%s is not set: set it to the path of libonnxruntime.so.1 "+
			"(ONNX Runtime %sx; deploy/dev/onnxruntime.sh fetches it)", ErrLibrary, LibraryEnv, WantVersion)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("infer: %w: %w (set $%s to libonnxruntime.so.1 of ONNX Runtime %sx)",
			ErrLibrary, err, LibraryEnv, WantVersion)
	}
	if st.IsDir() {
		return fmt.Errorf("infer: %w: %s is a directory, want the path of libonnxruntime.so.1", ErrLibrary, path)
	}
	return nil
}

// checkVersion refuses an ONNX Runtime outside the WantVersion line.
func checkVersion(v, path string) error {
	if !strings.HasPrefix(v, WantVersion) {
		return fmt.Errorf("infer: %w: %s is ONNX Runtime %q, want %sx (set $%s to the library deploy/dev/onnxruntime.sh fetches)",
			ErrLibrary, path, v, WantVersion, LibraryEnv)
	}
	return nil
}

// Version returns the loaded ONNX Runtime's version (e.g. "1.30.0"), or ""
// before a successful Init.
func Version() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}
