package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// update.disk_reserve defaults to the updater's 64MiB and is refused,
// named, outside 1MiB-16GiB.
func TestUpdateDiskReserve(t *testing.T) {
	assert.Equal(t, 64*MiB, Defaults().Update.DiskReserve)
	assert.Nil(t, parseErrs(t, "update: {disk_reserve: 1GiB}\n"))
	for _, v := range []string{"512KiB", "0", "17GiB"} {
		errs := parseErrs(t, "update: {disk_reserve: "+v+"}\n")
		require.Len(t, errs, 1, v)
		assert.Contains(t, errs[0], "update.disk_reserve: ", v)
		assert.Contains(t, errs[0], "is out of range [1MiB, 16GiB]", v)
	}
}
