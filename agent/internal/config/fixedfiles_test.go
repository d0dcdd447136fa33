package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/forward"
)

// The config checks paths against the files the agent keeps under fixed
// names; the outbox's is defined where it is opened.
func TestFixedFileNamesMatch(t *testing.T) {
	assert.Equal(t, forward.DefaultFileName, config.OutboxFile)
	// config.CalibrationFile is agent/internal/service.CalibrationFile,
	// which this test cannot import without depending on the whole agent.
}
