package testenv_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/testenv"
)

// fakeTB records Skip and Fatal instead of stopping the test. Its other
// methods are the embedded nil testing.TB's: testenv must not call them.
type fakeTB struct {
	testing.TB
	skipped, fatal []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = append(f.skipped, fmt.Sprint(args...)) }
func (f *fakeTB) Fatal(args ...any) { f.fatal = append(f.fatal, fmt.Sprint(args...)) }

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"", false}, {"0", false}, {"false", false},
		{"1", true}, {"true", true}, {"yes", true}, // "yes" does not parse: counts as set
	} {
		t.Setenv(testenv.EnvRequire, tc.value)
		if got := testenv.Required(); got != tc.want {
			t.Errorf("%s=%q: Required() = %v, want %v", testenv.EnvRequire, tc.value, got, tc.want)
		}
	}
}

// Without HYDROGNN_REQUIRE_SERVICES a missing service skips; with it, it
// fails, and either message names the service, the reason and make env.
func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		require         string
		skipped, failed int
	}{
		{"", 1, 0},
		{"0", 1, 0},
		{"1", 0, 1},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(testenv.EnvRequire, tc.require)
			f := &fakeTB{}
			testenv.Missing(f, testenv.Mosquitto, "mosquitto_passwd is not installed")
			if len(f.skipped) != tc.skipped || len(f.fatal) != tc.failed {
				t.Fatalf("skipped %q, failed %q: want %d skip(s), %d failure(s)", f.skipped, f.fatal, tc.skipped, tc.failed)
			}
			msg := strings.Join(append(f.skipped, f.fatal...), "")
			for _, want := range []string{"Mosquitto is missing: mosquitto_passwd is not installed", `eval "$(make -s env)"`, testenv.EnvRequire} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("HYDROGNN_TESTENV_X", "postgres://db")
	t.Setenv(testenv.EnvRequire, "1")
	f := &fakeTB{}
	if got := testenv.Env(f, "HYDROGNN_TESTENV_X", testenv.PostgreSQL); got != "postgres://db" || len(f.skipped)+len(f.fatal) != 0 {
		t.Fatalf("set: Env = %q, skipped %q, failed %q", got, f.skipped, f.fatal)
	}

	t.Setenv("HYDROGNN_TESTENV_X", "")
	testenv.Env(f, "HYDROGNN_TESTENV_X", testenv.PostgreSQL)
	if len(f.fatal) != 1 || !strings.Contains(f.fatal[0], "PostgreSQL is missing: HYDROGNN_TESTENV_X is not set") {
		t.Fatalf("unset, required: failed %q, skipped %q", f.fatal, f.skipped)
	}

	t.Setenv(testenv.EnvRequire, "")
	f = &fakeTB{}
	testenv.Env(f, "HYDROGNN_TESTENV_X", testenv.PostgreSQL)
	if len(f.skipped) != 1 || len(f.fatal) != 0 {
		t.Fatalf("unset, not required: skipped %q, failed %q", f.skipped, f.fatal)
	}
}
