package rigctl

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// The FAULT column names a class head's fault, and an anomaly alert
// (fault "") as an anomaly with its latest suspected fault.
func TestAlertFault(t *testing.T) {
	assert.Equal(t, "leakage", alertFault(fleetapi.Alert{Fault: "leakage"}))
	assert.Equal(t, "anomaly", alertFault(fleetapi.Alert{}))
	assert.Equal(t, "anomaly (cavitation suspected)", alertFault(fleetapi.Alert{Suspected: "cavitation",
		SuspectedFaults: map[string]int{"cavitation": 2, "vibration": 1}}))
}
