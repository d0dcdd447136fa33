// Package testenv decides what a test does when a service it needs is
// missing: PostgreSQL ($DATABASE_URL), Mosquitto ($MQTT_URL, the
// mosquitto and mosquitto_passwd binaries) or ONNX Runtime
// ($ONNXRUNTIME_LIB).
//
// By default the test is skipped, so that a plain `go test` in a bare
// checkout passes. With HYDROGNN_REQUIRE_SERVICES=1 in the environment
// (EnvRequire), which `make test`, `make e2e` and .ci/run set after
// deploy/dev/ has provisioned the services, the test fails instead: a
// broken service setup then shows as a failure naming the missing
// service, not as a pass with some tests silently skipped.
//
//	url := testenv.Env(t, "DATABASE_URL", testenv.PostgreSQL)
//	if _, err := exec.LookPath("mosquitto_passwd"); err != nil {
//		testenv.Missing(t, testenv.Mosquitto, "mosquitto_passwd is not installed (Debian: apt-get install mosquitto)")
//	}
//
// Skips for other reasons (-short, root, data that is not in the
// repository) stay plain t.Skip calls. The package is for tests only.
package testenv
