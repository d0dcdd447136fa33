package tests

import (
	"encoding/binary"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/hydrognn/hydrognn/shared/testenv"
)

// wantORTPrefix is the ONNX Runtime release line the project is built
// against (deploy/dev/onnxruntime.sh fetches 1.30.0).
const wantORTPrefix = "1.30."

var (
	ortOnce sync.Once
	ortErr  error
)

// ortEnv initialises the process's one ONNX Runtime environment from
// $ONNXRUNTIME_LIB, or skips the test when the variable is unset. The
// environment is never destroyed: it lives until the test binary exits.
func ortEnv(tb testing.TB) {
	tb.Helper()
	lib := testenv.Env(tb, "ONNXRUNTIME_LIB", testenv.ONNXRuntime)
	ortOnce.Do(func() {
		if _, err := os.Stat(lib); err != nil {
			ortErr = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment()
	})
	require.NoError(tb, ortErr, "initialise ONNX Runtime from ONNXRUNTIME_LIB=%s", lib)
}

func TestONNXRuntimeVersion(t *testing.T) {
	ortEnv(t)
	v := ort.GetVersion()
	assert.Truef(t, strings.HasPrefix(v, wantORTPrefix),
		"ONNX Runtime version = %q, want %sx (ONNXRUNTIME_LIB=%s)", v, wantORTPrefix, os.Getenv("ONNXRUNTIME_LIB"))
}

// TestONNXRuntimeRun runs a one-node graph (y = a + b) with the session
// settings the agent uses, to show that the library not only loads but
// computes.
func TestONNXRuntimeRun(t *testing.T) {
	ortEnv(t)

	shape := ort.NewShape(1, 4)
	a, err := ort.NewTensor(shape, []float32{1, 2, 3, 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Destroy() })
	b, err := ort.NewTensor(shape, []float32{10, 20, 30, -40})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Destroy() })
	y, err := ort.NewEmptyTensor[float32](shape)
	require.NoError(t, err)
	t.Cleanup(func() { _ = y.Destroy() })

	opts, err := ort.NewSessionOptions()
	require.NoError(t, err)
	t.Cleanup(func() { _ = opts.Destroy() })
	require.NoError(t, opts.SetIntraOpNumThreads(1))
	require.NoError(t, opts.SetInterOpNumThreads(1))
	require.NoError(t, opts.SetExecutionMode(ort.ExecutionModeSequential))
	require.NoError(t, opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll))

	s, err := ort.NewAdvancedSessionWithONNXData(addModel(4),
		[]string{"a", "b"}, []string{"y"}, []ort.Value{a, b}, []ort.Value{y}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Destroy() })

	require.NoError(t, s.Run())
	assert.Equal(t, []float32{11, 22, 33, -36}, y.GetData())
}

// addModel returns an ONNX model (IR 8, opset 17) computing y = a + b on
// float tensors of shape [1, n], encoded by hand so that the test needs no
// protobuf package. Field numbers are those of onnx.proto.
func addModel(n int64) []byte {
	// TensorShapeProto{dim: {dim_value: 1}, dim: {dim_value: n}}
	shape := cat(msg(1, varintField(1, 1)), msg(1, varintField(1, uint64(n))))
	tensorType := func() []byte {
		// TypeProto{tensor_type: {elem_type: FLOAT(1), shape}}
		return msg(1, cat(varintField(1, 1), msg(2, shape)))
	}
	valueInfo := func(name string) []byte { // ValueInfoProto{name, type}
		return cat(bytesField(1, name), msg(2, tensorType()))
	}
	node := cat( // NodeProto{input, input, output, name, op_type}
		bytesField(1, "a"), bytesField(1, "b"), bytesField(2, "y"),
		bytesField(3, "add"), bytesField(4, "Add"))
	graph := cat( // GraphProto{node, name, input, input, output}
		msg(1, node), bytesField(2, "add"),
		msg(11, valueInfo("a")), msg(11, valueInfo("b")), msg(12, valueInfo("y")))
	return cat( // ModelProto{ir_version, producer_name, graph, opset_import{domain "", version}}
		varintField(1, 8), bytesField(2, "hydrognn-tests"), msg(7, graph),
		msg(8, cat(bytesField(1, ""), varintField(2, 17))))
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func varintField(field int, v uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(field)<<3) // wire type 0
	return binary.AppendUvarint(b, v)
}

func bytesField(field int, s string) []byte { return msg(field, []byte(s)) }

func msg(field int, body []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(field)<<3|2) // wire type 2
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}
