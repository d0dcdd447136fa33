package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// --help shows the enroll subcommand too.
func TestHelpNamesEnroll(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, exitOK, run([]string{"--help"}, &out, &errb))
	assert.Contains(t, errb.String(), "rig-agent enroll --config FILE --token-file FILE")
	assert.Contains(t, errb.String(), "-check-model")
}
