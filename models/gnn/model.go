package gnn

import (
	"errors"
	"fmt"
	"math"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// ErrConfig is returned (wrapped) when a Model cannot be built from a rig
// config and Sizes. Check it with errors.Is.
var ErrConfig = errors.New("gnn: invalid model configuration")

// Sizes are the architecture's hyperparameters. The zero value of every
// field means its default (see DefaultSizes).
type Sizes struct {
	// Patch is P, the number of grid steps per patch; the window's Steps
	// must be a multiple of it with at least MinPatches patches (0: the
	// largest of 10, 6, 5, 4, 3, 2, 1 that divides Steps into at least
	// MinPatches).
	Patch int `json:"patch"`
	// Hidden is D, the width of sensor and node embeddings and of the
	// GRU state (0: 32). It must be a multiple of Heads.
	Hidden int `json:"hidden"`
	// Heads is K, the number of attention heads per GAT layer (0: 2).
	Heads int `json:"heads"`
	// Layers is L, the number of GAT layers (0: 2; -1: none).
	Layers int `json:"layers"`
	// HeadHidden is the width of each target classifier's hidden layer
	// (0: 32).
	HeadHidden int `json:"head_hidden"`
	// Window is r, the width of the per-sensor linear view of the whole
	// window (weights [S, T, r]; 0: the default, -1: no window view).
	Window int `json:"window"`
	// Readout is R, the width of the learned readout of all nodes
	// flattened (weights [N*D, R]; 0: the default, -1: none).
	Readout int `json:"readout"`
	// Global is G, the width of the rig-level view: a hidden layer over
	// every sensor's window view (before its Relu) flattened, weights
	// [S*r, G] (0: the default, -1: none; needs a window view).
	Global int `json:"global"`
	// View is r_t, the width of each component target's own linear view
	// of every sensor's window (weights [S, T, r_t] per target; 0: the
	// default, -1: none), and ViewHidden is G_t, the width of the hidden
	// layer over it flattened ([S*r_t, G_t]; 0: the default).
	View       int `json:"view"`
	ViewHidden int `json:"view_hidden"`
	// ViewAttn is E, the width of each component target's attention over
	// the window's steps: every step's cells of all sensors embedded
	// (relu(xm[:, :, t] @ attn/w + attn/pos[t]), [B, T, E]), ViewAttnHeads
	// softmax weightings over the steps, and their weighted sums
	// ([B, ViewAttnHeads*E]) appended to the target's head input (0: the
	// default, none; -1: none).
	ViewAttn int `json:"view_attn"`
}

// ViewAttnHeads is the number of attention weightings over the steps in a
// target's attention (Sizes.ViewAttn).
const ViewAttnHeads = 4

// ViewAttnWidth is the resolved width E of the targets' attention over the
// steps (0: none).
func (s Sizes) ViewAttnWidth() int { return max(s.ViewAttn, 0) }

// ViewWidth is the resolved width r_t of the targets' own views (0: none).
func (s Sizes) ViewWidth() int { return max(s.View, 0) }

// GlobalWidth is the resolved width G of the rig-level view (0: none).
func (s Sizes) GlobalWidth() int {
	if s.WindowWidth() == 0 {
		return 0
	}
	return max(s.Global, 0)
}

// WindowWidth is the resolved width r of the window view (0: none).
func (s Sizes) WindowWidth() int { return max(s.Window, 0) }

// ReadoutWidth is the resolved width R of the graph readout (0: none).
func (s Sizes) ReadoutWidth() int { return max(s.Readout, 0) }

// NumLayers is the resolved number of GAT layers (0: none).
func (s Sizes) NumLayers() int { return max(s.Layers, 0) }

// DefaultSizes are the sizes used when a field of Sizes is zero.
var DefaultSizes = Sizes{Patch: 0, Hidden: 16, Heads: 2, Layers: 2, HeadHidden: 16, Window: 4, Readout: -1, Global: -1, View: 8, ViewHidden: 16, ViewAttn: -1}

// MinSteps is the shortest window New accepts, and MinPatches the fewest
// patches (Steps/Patch): with one step or one patch the GRU over patches
// runs a single step, and the "temporal" encoder sees no sequence at all.
const (
	MinSteps   = 2
	MinPatches = 2
)

// LeakyAlpha is the negative slope of the LeakyRelu in the GATv2 scores
// (ONNX LeakyRelu alpha).
const LeakyAlpha = 0.2

// LayerNormEps is the epsilon of every layer normalisation (ONNX
// LayerNormalization epsilon, axis -1).
const LayerNormEps = 1e-5

// MaskBias is added to the attention scores of node pairs that are not
// connected (a finite number, so that ONNX and GoMLX agree bit for bit on
// the softmax and no NaN can arise).
const MaskBias = -1e9

// Target is one classification head of a Model, in rig-config order.
type Target struct {
	// Name is the rig target's name.
	Name string
	// Node is the index of the target's component in the node order, or
	// -1 for a rig-level target (e.g. the stable flag).
	Node int
	// Classes is the number of classes.
	Classes int
}

// Model is the architecture for one rig config: sizes plus the constant
// topology tensors derived from the config. It holds no weights; Params
// enumerates the weights it needs and Weights holds their values.
//
// A Model is plain data, safe for concurrent use once built.
type Model struct {
	// Sizes are the resolved sizes (no zero fields; -1 means none, see
	// Sizes.NumLayers, WindowWidth, ReadoutWidth). Passing them to New
	// again gives the same model.
	Sizes Sizes
	// Sensors is S, Nodes is N, Steps is T (the window length), Patches
	// is T/P.
	Sensors, Nodes, Steps, Patches int
	// SensorIDs and NodeIDs name the sensors (feature order) and nodes
	// (component order).
	SensorIDs, NodeIDs []string
	// SensorNode[s] is the node index of sensor s.
	SensorNode []int
	// Targets are the classification heads, in rig-config order.
	Targets []Target
	// Adjacency is the N×N undirected adjacency without self loops.
	Adjacency [][]bool
}

// New builds the Model of cfg's active sensors and components for windows
// of steps grid cells. cfg must be valid (rig.Load validates).
func New(cfg *rig.Config, steps int, sizes Sizes) (*Model, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil rig config", ErrConfig)
	}
	s, err := resolveSizes(sizes, steps)
	if err != nil {
		return nil, err
	}
	m := &Model{Sizes: s, Steps: steps, Patches: steps / s.Patch, Nodes: len(cfg.Components)}
	if m.Nodes == 0 {
		return nil, fmt.Errorf("%w: rig %q has no components", ErrConfig, cfg.RigType)
	}
	for _, c := range cfg.Components {
		m.NodeIDs = append(m.NodeIDs, c.ID)
	}
	for _, sn := range cfg.ActiveSensors() {
		n := cfg.ComponentIndex(sn.Component)
		if n < 0 {
			return nil, fmt.Errorf("%w: sensor %q is on unknown component %q", ErrConfig, sn.ID, sn.Component)
		}
		m.SensorIDs = append(m.SensorIDs, sn.ID)
		m.SensorNode = append(m.SensorNode, n)
	}
	m.Sensors = len(m.SensorIDs)
	if m.Sensors == 0 {
		return nil, fmt.Errorf("%w: rig %q has no active sensors", ErrConfig, cfg.RigType)
	}
	for _, t := range cfg.Targets {
		node := -1
		if t.Component != "" {
			node = cfg.ComponentIndex(t.Component)
			if node < 0 {
				return nil, fmt.Errorf("%w: target %q is on unknown component %q", ErrConfig, t.Name, t.Component)
			}
		}
		if len(t.Classes) < 2 {
			return nil, fmt.Errorf("%w: target %q has %d classes, want at least 2", ErrConfig, t.Name, len(t.Classes))
		}
		m.Targets = append(m.Targets, Target{Name: t.Name, Node: node, Classes: len(t.Classes)})
	}
	m.Adjacency = cfg.Adjacency()
	return m, nil
}

func resolveSizes(s Sizes, steps int) (Sizes, error) {
	if steps < MinSteps {
		return s, fmt.Errorf("%w: window of %d steps: the temporal encoder needs at least %d", ErrConfig, steps, MinSteps)
	}
	if s.Patch == 0 {
		for _, p := range []int{10, 6, 5, 4, 3, 2, 1} {
			if steps%p == 0 && steps/p >= MinPatches {
				s.Patch = p
				break
			}
		}
	}
	if s.Hidden == 0 {
		s.Hidden = DefaultSizes.Hidden
	}
	if s.Heads == 0 {
		s.Heads = DefaultSizes.Heads
	}
	if s.Layers == 0 {
		s.Layers = DefaultSizes.Layers
	}
	if s.HeadHidden == 0 {
		s.HeadHidden = DefaultSizes.HeadHidden
	}
	if s.Window == 0 {
		s.Window = DefaultSizes.Window
	}
	if s.Readout == 0 {
		s.Readout = DefaultSizes.Readout
	}
	if s.Global == 0 {
		s.Global = DefaultSizes.Global
	}
	if s.View == 0 {
		s.View = DefaultSizes.View
	}
	if s.ViewHidden == 0 {
		s.ViewHidden = DefaultSizes.ViewHidden
	}
	if s.ViewAttn == 0 {
		s.ViewAttn = DefaultSizes.ViewAttn
	}
	for _, v := range []*int{&s.Layers, &s.Window, &s.Readout, &s.Global, &s.View, &s.ViewAttn} {
		if *v < 0 {
			*v = -1
		}
	}
	switch {
	case s.Patch < 1 || steps%s.Patch != 0:
		return s, fmt.Errorf("%w: patch %d must be >= 1 and divide the window's %d steps", ErrConfig, s.Patch, steps)
	case steps/s.Patch < MinPatches:
		return s, fmt.Errorf("%w: patch %d cuts the window's %d steps into %d patch(es); the GRU over patches needs at least %d (a patch of at most %d steps)",
			ErrConfig, s.Patch, steps, steps/s.Patch, MinPatches, steps/MinPatches)
	case s.Hidden < 1 || s.Heads < 1 || s.Hidden%s.Heads != 0:
		return s, fmt.Errorf("%w: hidden %d must be a positive multiple of heads %d", ErrConfig, s.Hidden, s.Heads)
	case s.HeadHidden < 1:
		return s, fmt.Errorf("%w: head_hidden %d must be positive", ErrConfig, s.HeadHidden)
	case s.ViewHidden < 1:
		return s, fmt.Errorf("%w: view_hidden %d must be positive", ErrConfig, s.ViewHidden)
	}
	return s, nil
}

// Init says how a weight is initialised.
type Init int

// Initialisers.
const (
	InitZeros  Init = iota // all zeros (biases, LayerNorm shifts)
	InitOnes               // all ones (LayerNorm gains)
	InitGlorot             // uniform ±sqrt(6/(fan_in+fan_out)) (matrices)
	InitNormal             // normal with std 0.1 (embeddings)
)

// Param is one weight tensor of a Model: its name (the contract with the
// ONNX exporter, see doc.go), its shape, and its initialiser.
type Param struct {
	Name  string
	Shape []int
	Init  Init
	// Frozen weights are not trained by gradient: they are statistics of
	// the training data set once before training (SetCellStats).
	Frozen bool
}

// Size returns the number of elements.
func (p Param) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Params lists every weight of m, in a fixed order (the order Weights
// keeps and checkpoints store). See doc.go for what each is.
func (m *Model) Params() []Param {
	D, P, S, N, T := m.Sizes.Hidden, m.Sizes.Patch, m.Sensors, m.Nodes, m.Steps
	Hh := m.Sizes.HeadHidden
	var ps []Param
	add := func(name string, init Init, shape ...int) {
		ps = append(ps, Param{Name: name, Shape: shape, Init: init})
	}
	// Per-cell standardisation of the prepared input (frozen statistics).
	ps = append(ps, Param{Name: "enc/cell/mean", Shape: []int{S, T}, Init: InitZeros, Frozen: true},
		Param{Name: "enc/cell/inv_std", Shape: []int{S, T}, Init: InitOnes, Frozen: true})
	r, R, Gw := m.Sizes.WindowWidth(), m.Sizes.ReadoutWidth(), m.Sizes.GlobalWidth()
	if r > 0 {
		add("enc/window/w", InitGlorot, S, T, r)
		add("enc/window/b", InitZeros, S, r)
	}
	add("enc/patch/w", InitGlorot, S, 2*P, D)
	add("enc/patch/b", InitZeros, S, D)
	for _, gate := range []string{"z", "r", "n"} {
		add("enc/gru/"+gate+"/wx", InitGlorot, D, D)
		add("enc/gru/"+gate+"/wh", InitGlorot, D, D)
		add("enc/gru/"+gate+"/bx", InitZeros, D)
		add("enc/gru/"+gate+"/bh", InitZeros, D)
	}
	add("enc/out/w", InitGlorot, 2*D+r, D)
	add("enc/out/b", InitZeros, D)
	add("node/emb", InitNormal, N, D)
	for l := range m.Sizes.NumLayers() {
		p := fmt.Sprintf("gat%d/", l)
		add(p+"wl", InitGlorot, D, D)
		add(p+"wr", InitGlorot, D, D)
		add(p+"att", InitGlorot, m.Sizes.Heads, D/m.Sizes.Heads)
		add(p+"wo", InitGlorot, D, D)
		add(p+"bo", InitZeros, D)
		add(p+"ln/g", InitOnes, D)
		add(p+"ln/b", InitZeros, D)
	}
	if R > 0 {
		add("graph/readout/w", InitGlorot, N*D, R)
		add("graph/readout/b", InitZeros, R)
	}
	if Gw > 0 {
		add("graph/global/w", InitGlorot, S*r, Gw)
		add("graph/global/b", InitZeros, Gw)
	}
	add("head/health/w", InitGlorot, D, 1)
	add("head/health/b", InitZeros, 1)
	for _, t := range m.Targets {
		in := D + R + Gw
		p := "head/target/" + t.Name + "/"
		if t.Node >= 0 {
			in += D
			if rt := m.Sizes.ViewWidth(); rt > 0 {
				add(p+"view/w", InitGlorot, S, T, rt)
				add(p+"view/b", InitZeros, S, rt)
				add(p+"view/hw", InitGlorot, S*rt, m.Sizes.ViewHidden)
				add(p+"view/hb", InitZeros, m.Sizes.ViewHidden)
				in += m.Sizes.ViewHidden
			}
			if E := m.Sizes.ViewAttnWidth(); E > 0 {
				add(p+"attn/w", InitGlorot, S, E)
				add(p+"attn/pos", InitZeros, T, E)
				add(p+"attn/q", InitGlorot, E, ViewAttnHeads)
				in += ViewAttnHeads * E
			}
		}
		add(p+"w1", InitGlorot, in, Hh)
		add(p+"b1", InitZeros, Hh)
		add(p+"w2", InitGlorot, Hh, t.Classes)
		add(p+"b2", InitZeros, t.Classes)
	}
	add("head/recon/w1", InitGlorot, D, D)
	add("head/recon/b1", InitZeros, D)
	add("head/recon/w2", InitGlorot, D, T)
	add("head/recon/b2", InitZeros, T)
	return ps
}

// SetCellStats sets the frozen per-cell standardisation of w from n
// prepared training windows x, mask ([n, S, T] flat): the mean and 1/std
// of each (sensor, step) cell over the windows where it is present (std
// floored at 0.05 of the sensor's prep-normalised unit, so a cell that is
// constant in training cannot explode in the field).
func (m *Model) SetCellStats(w Weights, x, mask []float32) error {
	ST := m.Sensors * m.Steps
	if len(x) != len(mask) || len(x)%ST != 0 {
		return fmt.Errorf("%w: cell stats from %d values, not a multiple of %d", ErrConfig, len(x), ST)
	}
	mean, inv := w.Get("enc/cell/mean"), w.Get("enc/cell/inv_std")
	if mean == nil || inv == nil {
		return fmt.Errorf("%w: weights lack the cell statistics", ErrConfig)
	}
	n := len(x) / ST
	for c := range ST {
		s, s2, k := 0.0, 0.0, 0.0
		for i := range n {
			if mask[i*ST+c] != 0 {
				v := float64(x[i*ST+c])
				s += v
				s2 += v * v
				k++
			}
		}
		mu, sd := 0.0, 1.0
		if k > 0 {
			mu = s / k
			sd = math.Sqrt(math.Max(s2/k-mu*mu, 0))
		}
		mean.Data[c] = float32(mu)
		inv.Data[c] = float32(1 / math.Max(sd, 0.05))
	}
	return nil
}

// NumParams returns the number of scalar weights.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params() {
		n += p.Size()
	}
	return n
}

// Constant is a constant tensor of the graph derived from the rig config
// (an ONNX initializer that is not trained).
type Constant struct {
	Name  string
	Shape []int
	Data  []float32
}

// Constants returns the topology constants of m's graph, in a fixed order:
//
//   - "const/pool" [N, S]: row n averages the sensors of node n (1/k for
//     each of its k sensors; a row of zeros for a node with none).
//   - "const/scatter" [S, N]: one-hot, sensor s's node.
//   - "const/adj_bias" [N, N]: 0 where nodes are adjacent or equal (self
//     loops), MaskBias elsewhere; added to attention scores.
//   - "const/select/<target>" [1, N]: one-hot, the target's node (only for
//     targets with a component).
func (m *Model) Constants() []Constant {
	S, N := m.Sensors, m.Nodes
	pool := make([]float32, N*S)
	count := make([]int, N)
	for _, n := range m.SensorNode {
		count[n]++
	}
	for s, n := range m.SensorNode {
		pool[n*S+s] = 1 / float32(count[n])
	}
	scatter := make([]float32, S*N)
	for s, n := range m.SensorNode {
		scatter[s*N+n] = 1
	}
	bias := make([]float32, N*N)
	for i := range N {
		for j := range N {
			if i != j && !m.Adjacency[i][j] {
				bias[i*N+j] = MaskBias
			}
		}
	}
	cs := []Constant{
		{Name: "const/pool", Shape: []int{N, S}, Data: pool},
		{Name: "const/scatter", Shape: []int{S, N}, Data: scatter},
		{Name: "const/adj_bias", Shape: []int{N, N}, Data: bias},
	}
	for _, t := range m.Targets {
		if t.Node < 0 {
			continue
		}
		sel := make([]float32, N)
		sel[t.Node] = 1
		cs = append(cs, Constant{Name: "const/select/" + t.Name, Shape: []int{1, N}, Data: sel})
	}
	return cs
}

// glorotLimit returns the Glorot-uniform limit of a shape.
func glorotLimit(shape []int) float64 {
	fanIn, fanOut := 1, 1
	if len(shape) >= 2 {
		fanIn, fanOut = shape[len(shape)-2], shape[len(shape)-1]
	} else if len(shape) == 1 {
		fanIn, fanOut = shape[0], shape[0]
	}
	return math.Sqrt(6 / float64(fanIn+fanOut))
}
