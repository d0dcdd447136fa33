package infer

import (
	"log/slog"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

// Open warms the model up with one fully masked zero window and reports
// the run's time as warmup_ms in its log line and in Info (the agent's
// /bundle shows it); the tensors are left zeroed and the model then runs
// a real window as usual (review r1 finding 13).
func TestOpenWarmsUp(t *testing.T) {
	needORT(t)
	cfg := loadRig(t, "../../firmware-configs/zema-testrig.yaml")
	var logs syncbuf.Buffer
	m, err := Open("../../models/bundles/zema-testrig", cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })

	line := regexp.MustCompile(`msg="model opened" .* session_ms=\S+ warmup_ms=(\S+)`).FindStringSubmatch(logs.String())
	require.NotNil(t, line, "%s", logs.String())
	logged, err := strconv.ParseFloat(line[1], 64)
	require.NoError(t, err)
	assert.Positive(t, logged, "the warm-up ran")
	assert.Equal(t, logged, m.Info().WarmupMS)

	for _, v := range m.one.x.GetData() {
		require.Zero(t, v)
	}
	if m.one.mask != nil {
		for _, v := range m.one.mask.GetData() {
			require.Zero(t, v, "fully masked")
		}
	}
}
