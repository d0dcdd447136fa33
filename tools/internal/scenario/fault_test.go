package scenario

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Every fault kind the simulator injects maps to a fault a diagnosis can
// name (rig.Faults): a component condition to its own, and back; a sensor
// fault to rig.FaultSensor, explicitly.
func TestEveryKindMapsToAFault(t *testing.T) {
	for _, k := range Kinds {
		f := k.Fault()
		assert.True(t, slices.Contains(rig.Faults, f), "%s maps to %q, not a rig.Fault", k, f)
		if k.IsSensor() {
			assert.Equal(t, rig.FaultSensor, f, "%s is a sensor fault", k)
			continue
		}
		assert.NotEqual(t, rig.FaultSensor, f, "%s is a component condition", k)
		assert.Equal(t, k, KindOfFault(f), "%s -> %s -> back", k, f)
		_, ok := kindFaults[k]
		assert.True(t, ok, "%s has no entry in kindFaults", k)
	}
	for k, fs := range kindFaults {
		assert.True(t, slices.Contains(Kinds, k), "kindFaults has %s, which Kinds lacks", k)
		for _, f := range fs {
			assert.True(t, slices.Contains(rig.Faults, f), "%s: %q is not a rig.Fault", k, f)
			assert.Equal(t, k, KindOfFault(f), "%s names %s", f, k)
		}
	}
	assert.Empty(t, KindOfFault(rig.FaultSensor), "a sensor fault is several kinds")
	assert.Empty(t, KindOfFault(rig.FaultOverheating), "the simulator has no overheating condition")
}
