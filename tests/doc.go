// Package tests holds the project's end-to-end tests: tests that cross module
// and binary boundaries (rigsim -> Mosquitto -> rig-agent -> rig-cloud ->
// PostgreSQL; TestCloudEndToEnd runs rig-cloud, rig-agent, rigsim and rigctl
// built from the checkout; TestRolloutEndToEnd rolls releases out through
// rig-cloud to 20 rig-agent processes on the test Mosquitto), and checks of
// the native libraries the binaries load at run time. Unit tests stay beside
// the code they test, in each module.
//
// The long end-to-end tests run only with HYDROGNN_TEST_E2E set, which
// `make e2e` sets (CI runs it after `make test`): 20 agents would slow down
// the packages `make test` runs in parallel. A process of theirs that exits
// on its own fails the test at once with its exit status and the last 80
// lines of its log; when the test fails, every process's whole log is kept
// under os.TempDir() (rollout-e2e-logs-*, path logged).
// HYDROGNN_TEST_RACE=1 builds the binaries with the race detector, and a
// race report in a log fails the test.
//
// # Services
//
// The tests find what they need through environment variables, which
// `make test` (and `eval "$(make -s env)"` for a shell) sets by running the
// scripts in deploy/dev/:
//
//   - ONNXRUNTIME_LIB: path of libonnxruntime.so.1 (ONNX Runtime 1.30.x),
//     from deploy/dev/onnxruntime.sh.
//   - DATABASE_URL: postgres://... URL of a database the tests may write to,
//     from deploy/dev/postgres.sh. It may be a shared database: create what a
//     test needs under names of its own (a schema per test) and drop it in
//     t.Cleanup.
//   - MQTT_URL: tcp://host:port of a Mosquitto broker configured with
//     deploy/mosquitto/mosquitto-test.conf (no silent queue limits), from
//     deploy/dev/mosquitto.sh.
//
// A test whose variable is unset skips with a message naming it, so that
// `go test ./...` in a bare checkout passes; `make test` always sets all three,
// so CI never skips them.
//
// # ONNX Runtime
//
// ONNX Runtime allows one environment per process: tests in this package get
// it through ortEnv, which initialises it once and leaves it for the process's
// exit, and never call InitializeEnvironment or DestroyEnvironment themselves.
package tests
