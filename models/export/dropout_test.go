package export_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestHyperparametersDropoutSensors: the sensors a run trained with
// whole-window dropout go into provenance.config, where the agent reads
// them; a run without any writes no key (bundles as before).
func TestHyperparametersDropoutSensors(t *testing.T) {
	h := export.Hyperparameters(train.Options{SensorDropout: 0.3}, &train.Result{DropoutSensors: []string{"SE"}})
	assert.Equal(t, []string{"SE"}, h[bundle.DropoutSensorsKey])
	assert.Equal(t, 0.3, h["sensor_dropout"])
	man := bundle.Manifest{Provenance: bundle.Provenance{Config: h}}
	assert.Equal(t, []string{"SE"}, man.DropoutSensors())

	h = export.Hyperparameters(train.Options{}, &train.Result{})
	assert.NotContains(t, h, bundle.DropoutSensorsKey)
	assert.NotContains(t, h, "sensor_dropout")
}
