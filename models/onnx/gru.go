package onnx

import "fmt"

// GRU layout contract (ONNX GRU, opset 14-17, layout 0), which a trainer
// must reproduce exactly for its weights to mean the same thing in ONNX
// Runtime:
//
//	X: [T, B, I]   time-major; B may be symbolic (batch x nodes)
//	W: [D, 3H, I]  rows 0..H-1 update gate z, H..2H-1 reset gate r, 2H..3H-1 candidate h
//	R: [D, 3H, H]  same gate order
//	B: [D, 6H]     Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h
//	Y: [T, D, B, H]  every step's state;  Y_h: [D, B, H]  the last state
//
// with D = 1 for a forward GRU, and, for each step t (σ = sigmoid, ⊙
// element-wise, W_z the rows of gate z, so x·W_zᵀ is [B, H]):
//
//	z  = σ(x·W_zᵀ + h·R_zᵀ + Wb_z + Rb_z)
//	r  = σ(x·W_rᵀ + h·R_rᵀ + Wb_r + Rb_r)
//	h̃ = tanh(x·W_hᵀ + (r ⊙ h)·R_hᵀ + Rb_h + Wb_h)       linear_before_reset = 0 (ONNX default)
//	h̃ = tanh(x·W_hᵀ + Wb_h + r ⊙ (h·R_hᵀ + Rb_h))        linear_before_reset = 1 (cuDNN, PyTorch)
//	h' = (1 - z) ⊙ h̃ + z ⊙ h                              z keeps the OLD state
//
// The initial state is zero unless initial_h is given. PackGRU builds W, R
// and B from per-gate matrices in the x·W orientation of a dense layer.

// GRUConfig holds the attributes and optional inputs of Graph.GRU.
type GRUConfig struct {
	// HiddenSize is H; required (> 0).
	HiddenSize int64
	// LinearBeforeReset selects the candidate formula (see the contract
	// above); false is ONNX's default, true is cuDNN's and PyTorch's.
	LinearBeforeReset bool
	// Direction is "forward" (or empty), "reverse" or "bidirectional".
	Direction string
	// InitialH is the optional initial state [D, B, H]; zero Value: zeros.
	InitialH Value
	// SequenceLens is the optional INT32 [B] of sequence lengths; zero
	// Value: every sequence has length T.
	SequenceLens Value
	// Clip bounds the gate pre-activations to [-Clip, Clip]; 0: no clip.
	Clip float32
}

// GRU adds an ONNX GRU node (layout 0, default activations sigmoid and
// tanh) and returns Y [T, D, B, H] and Y_h [D, B, H]. w, r and b are laid
// out as the contract above says (b may be the zero Value: zero biases).
func (g *Graph) GRU(x, w, r, b Value, cfg GRUConfig, opts ...NodeOption) (y, yH Value) {
	if !g.required("GRU", x, w, r) {
		return g.bad(), g.bad()
	}
	if cfg.HiddenSize <= 0 {
		g.failf("GRU: HiddenSize is %d, want > 0", cfg.HiddenSize)
		return g.bad(), g.bad()
	}
	attrs := []Attribute{AttrInt("hidden_size", cfg.HiddenSize)}
	if cfg.LinearBeforeReset {
		attrs = append(attrs, AttrInt("linear_before_reset", 1))
	}
	switch cfg.Direction {
	case "", "forward":
	case "reverse", "bidirectional":
		attrs = append(attrs, AttrString("direction", cfg.Direction))
	default:
		g.failf("GRU: direction %q: want forward, reverse or bidirectional", cfg.Direction)
		return g.bad(), g.bad()
	}
	if cfg.Clip != 0 {
		attrs = append(attrs, AttrFloat("clip", cfg.Clip))
	}
	out := g.opN("GRU", 2, []Value{x, w, r, b, cfg.SequenceLens, cfg.InitialH}, attrs, opts)
	return out[0], out[1]
}

// GRUGate holds one gate's parameters in the orientation of a dense layer
// (pre-activation = x·Input + h·Recurrent + InputBias + RecurrentBias).
type GRUGate struct {
	// Input is [I][H] row-major: element (i, j) at i*H + j.
	Input []float32
	// Recurrent is [H][H] row-major: element (k, j) at k*H + j.
	Recurrent []float32
	// InputBias (Wb) and RecurrentBias (Rb) are [H]; nil means zeros. They
	// differ only for the candidate gate with linear_before_reset = 1, where
	// RecurrentBias sits inside r ⊙ (...): a trainer with one bias per gate
	// puts it in InputBias.
	InputBias, RecurrentBias []float32
}

// GRUParams holds a forward GRU's parameters per gate: Update (z), Reset
// (r) and Hidden (the candidate h̃).
type GRUParams struct {
	// InputSize (I) and HiddenSize (H) give the sizes of x and h.
	InputSize, HiddenSize int
	// Update (z), Reset (r) and Hidden (the candidate h̃) are the gates.
	Update, Reset, Hidden GRUGate
}

// PackGRU lays p out as ONNX GRU inputs: W [1, 3H, I], R [1, 3H, H] and
// B [1, 6H] (gate order z, r, h; matrices transposed to ONNX's [out][in]).
func PackGRU(p GRUParams) (w, r, b *Tensor, err error) {
	in, h := p.InputSize, p.HiddenSize
	if in <= 0 || h <= 0 {
		return nil, nil, nil, fmt.Errorf("%w: pack GRU: input size %d and hidden size %d must be > 0", ErrInvalid, in, h)
	}
	gates := []struct {
		name string
		g    GRUGate
	}{{"update", p.Update}, {"reset", p.Reset}, {"hidden", p.Hidden}}
	wd := make([]float32, 3*h*in)
	rd := make([]float32, 3*h*h)
	bd := make([]float32, 6*h)
	for gi, gt := range gates {
		if len(gt.g.Input) != in*h {
			return nil, nil, nil, fmt.Errorf("%w: pack GRU: %s gate Input has %d values, want I*H = %d*%d",
				ErrInvalid, gt.name, len(gt.g.Input), in, h)
		}
		if len(gt.g.Recurrent) != h*h {
			return nil, nil, nil, fmt.Errorf("%w: pack GRU: %s gate Recurrent has %d values, want H*H = %d*%d",
				ErrInvalid, gt.name, len(gt.g.Recurrent), h, h)
		}
		for _, bias := range [][]float32{gt.g.InputBias, gt.g.RecurrentBias} {
			if bias != nil && len(bias) != h {
				return nil, nil, nil, fmt.Errorf("%w: pack GRU: %s gate bias has %d values, want H = %d",
					ErrInvalid, gt.name, len(bias), h)
			}
		}
		for j := 0; j < h; j++ {
			row := gi*h + j
			for i := 0; i < in; i++ {
				wd[row*in+i] = gt.g.Input[i*h+j]
			}
			for k := 0; k < h; k++ {
				rd[row*h+k] = gt.g.Recurrent[k*h+j]
			}
		}
		copy(bd[gi*h:], gt.g.InputBias)
		copy(bd[(3+gi)*h:], gt.g.RecurrentBias)
	}
	return NewTensor(wd, 1, int64(3*h), int64(in)),
		NewTensor(rd, 1, int64(3*h), int64(h)),
		NewTensor(bd, 1, int64(6*h)), nil
}
