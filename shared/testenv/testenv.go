package testenv

import (
	"os"
	"strconv"
	"testing"
)

// EnvRequire is the environment variable that turns a missing service
// from a skip into a failure: 1 (or any true value strconv.ParseBool
// takes) requires the services; unset, empty, 0 or another false value
// does not. A value that does not parse counts as set, so that a typo
// cannot quietly bring the skips back.
const EnvRequire = "HYDROGNN_REQUIRE_SERVICES"

// Services, as Missing's what names them.
const (
	PostgreSQL  = "PostgreSQL"
	Mosquitto   = "Mosquitto"
	ONNXRuntime = "ONNX Runtime"
)

// Hint says how to get the services; Missing appends it to its message.
const Hint = "run `eval \"$(make -s env)\"` from the repository root (deploy/dev/ finds, starts or installs them), or `make test`"

// Required reports whether EnvRequire asks for the services.
func Required() bool {
	v := os.Getenv(EnvRequire)
	if v == "" {
		return false
	}
	on, err := strconv.ParseBool(v)
	return on || err != nil
}

// Missing stops tb because what (a service: PostgreSQL, Mosquitto, ONNX
// Runtime) is missing, for the reason why ("DATABASE_URL is not set"):
// tb.Fatal when Required, else tb.Skip. The message names what, why and
// Hint.
func Missing(tb testing.TB, what, why string) {
	tb.Helper()
	msg := what + " is missing: " + why + "; " + Hint
	if Required() {
		tb.Fatal(msg + " (" + EnvRequire + "=" + os.Getenv(EnvRequire) + ": a missing service fails the test instead of skipping it)")
	} else {
		tb.Skip(msg + " (skipped: " + EnvRequire + " is not set)")
	}
}

// Env returns the environment variable name, or calls Missing for the
// service what when it is unset or empty (and then returns "" if tb's
// Skip or Fatal returns, as a fake's may).
func Env(tb testing.TB, name, what string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(tb, what, name+" is not set")
	}
	return v
}
