package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1883": true, "[::1]:1883": true, "localhost:1883": true, "127.1.2.3:1": true,
		"0.0.0.0:1883": false, ":1883": false, "192.168.1.10:1883": false, "[::]:1883": false, "rig.local:1883": false,
	} {
		assert.Equal(t, want, IsLoopback(addr), addr)
	}
}
