package gnn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// TestViewAttnSizes: the targets' attention over the steps is off by
// default, named in Sizes' JSON, and adds S*E + T*E + E*ViewAttnHeads weights per component
// target, and ViewAttnHeads*E inputs to its first head layer.
func TestViewAttnSizes(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	base, err := New(cfg, 60, Sizes{})
	if err != nil {
		t.Fatal(err)
	}
	if base.Sizes.ViewAttnWidth() != 0 {
		t.Fatalf("default sizes have an attention of width %d", base.Sizes.ViewAttnWidth())
	}
	// Its JSON name is listed even at 0, as every other size's (rigctl
	// train --sizes lists gnn.Sizes{}'s names; cloud checks them by name).
	if b, _ := json.Marshal(Sizes{}); !strings.Contains(string(b), `"view_attn":0`) {
		t.Fatalf("Sizes{} marshals to %s, without view_attn", b)
	}
	const E = 5
	m, err := New(cfg, 60, Sizes{ViewAttn: E})
	if err != nil {
		t.Fatal(err)
	}
	if m2, err := New(cfg, 60, m.Sizes); err != nil || m2.Sizes != m.Sizes {
		t.Fatalf("resolving %+v again gave %+v (%v)", m.Sizes, m2.Sizes, err)
	}
	components := 0
	for _, tg := range m.Targets {
		if tg.Node >= 0 {
			components++
		}
	}
	S, T, Hh := m.Sensors, m.Steps, m.Sizes.HeadHidden
	want := base.NumParams() + components*(S*E+T*E+E*ViewAttnHeads+ViewAttnHeads*E*Hh)
	if m.NumParams() != want {
		t.Fatalf("%d weights, want %d", m.NumParams(), want)
	}
}
