package exitcode

import (
	"slices"
	"testing"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// No deliberate code is a status of Go's runtime (a crash), and the
// codes a unit may keep from restarting are the sysexits(3) values.
func TestNotGoRuntimeStatuses(t *testing.T) {
	for _, c := range []struct {
		name string
		code int
		want int
	}{{"OK", OK, 0}, {"Failure", Failure, 1}, {"Usage", Usage, 64}, {"DataErr", DataErr, 65}, {"Config", Config, 78}} {
		if c.code != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.code, c.want)
		}
		if slices.Contains(unitfiletest.GoRuntimeExitStatuses, c.code) {
			t.Errorf("%s = %d is a status of Go's runtime", c.name, c.code)
		}
	}
}
