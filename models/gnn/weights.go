package gnn

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
)

// Tensor is one named float32 tensor, row-major.
type Tensor struct {
	Name  string    `json:"name"`
	Shape []int     `json:"shape"`
	Data  []float32 `json:"-"`
}

// Weights are a Model's trained values, in Model.Params order. Every
// weight of the model is present with its exact shape (Check verifies).
// Weights are plain data; the caller owns them.
type Weights []Tensor

// Get returns the tensor called name, or nil.
func (w Weights) Get(name string) *Tensor {
	for i := range w {
		if w[i].Name == name {
			return &w[i]
		}
	}
	return nil
}

// Clone returns a deep copy.
func (w Weights) Clone() Weights {
	out := make(Weights, len(w))
	for i, t := range w {
		out[i] = Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	return out
}

// Check reports whether w has exactly m's weights, in order, with their
// shapes, and only finite values.
func (w Weights) Check(m *Model) error {
	ps := m.Params()
	if len(w) != len(ps) {
		return fmt.Errorf("%w: %d weight tensors, the model has %d", ErrConfig, len(w), len(ps))
	}
	for i, p := range ps {
		t := w[i]
		if t.Name != p.Name {
			return fmt.Errorf("%w: weight %d is %q, the model expects %q", ErrConfig, i, t.Name, p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) || len(t.Data) != p.Size() {
			return fmt.Errorf("%w: weight %q has shape %v (%d values), the model expects %v",
				ErrConfig, t.Name, t.Shape, len(t.Data), p.Shape)
		}
		for j, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: weight %q element %d is %v", ErrConfig, t.Name, j, v)
			}
		}
	}
	return nil
}

// InitWeights returns freshly initialised weights for m, a deterministic
// function of seed.
func InitWeights(m *Model, seed uint64) Weights {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var w Weights
	for _, p := range m.Params() {
		t := Tensor{Name: p.Name, Shape: slices.Clone(p.Shape), Data: make([]float32, p.Size())}
		switch p.Init {
		case InitOnes:
			for i := range t.Data {
				t.Data[i] = 1
			}
		case InitGlorot:
			lim := glorotLimit(p.Shape)
			for i := range t.Data {
				t.Data[i] = float32((rng.Float64()*2 - 1) * lim)
			}
		case InitNormal:
			for i := range t.Data {
				t.Data[i] = float32(rng.NormFloat64() * 0.1)
			}
		}
		w = append(w, t)
	}
	return w
}

// weightsMagic starts a weights file.
const weightsMagic = "HGNNW001"

// WriteTo writes w in the project's weights format: the magic
// "HGNNW001", a little-endian uint32 length and a JSON header
// ([{"name","shape"}...]), then every tensor's data as little-endian
// float32 in header order.
func (w Weights) WriteTo(out io.Writer) (int64, error) {
	bw := bufio.NewWriter(out)
	hdr, err := json.Marshal(w)
	if err != nil {
		return 0, err
	}
	var n int64
	k, _ := bw.WriteString(weightsMagic)
	n += int64(k)
	if err := binary.Write(bw, binary.LittleEndian, uint32(len(hdr))); err != nil {
		return n, err
	}
	n += 4
	k, _ = bw.Write(hdr)
	n += int64(k)
	buf := make([]byte, 4)
	for _, t := range w {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(buf, math.Float32bits(v))
			k, _ = bw.Write(buf)
			n += int64(k)
		}
	}
	return n, bw.Flush()
}

// ReadWeights reads weights written by WriteTo.
func ReadWeights(r io.Reader) (Weights, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(weightsMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != weightsMagic {
		return nil, fmt.Errorf("gnn: not a weights file (want magic %q)", weightsMagic)
	}
	var hl uint32
	if err := binary.Read(br, binary.LittleEndian, &hl); err != nil {
		return nil, fmt.Errorf("gnn: weights header: %w", err)
	}
	if hl > 1<<24 {
		return nil, fmt.Errorf("gnn: weights header of %d bytes is too large", hl)
	}
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("gnn: weights header: %w", err)
	}
	var w Weights
	if err := json.Unmarshal(hdr, &w); err != nil {
		return nil, fmt.Errorf("gnn: weights header: %w", err)
	}
	buf := make([]byte, 4)
	for i := range w {
		n := 1
		for _, d := range w[i].Shape {
			if d < 0 || d > 1<<24 {
				return nil, fmt.Errorf("gnn: weight %q has bad shape %v", w[i].Name, w[i].Shape)
			}
			n *= d
		}
		if n > 1<<26 {
			return nil, fmt.Errorf("gnn: weight %q has %d values, too many", w[i].Name, n)
		}
		w[i].Data = make([]float32, n)
		for j := range w[i].Data {
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, fmt.Errorf("gnn: weight %q data: %w", w[i].Name, err)
			}
			w[i].Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf))
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("gnn: trailing data after the weights")
	}
	return w, nil
}

// SaveWeights writes w to path (through a temporary file and a rename,
// so a crash never leaves a truncated file).
func SaveWeights(path string, w Weights) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("gnn: save weights: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("gnn: save weights %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("gnn: save weights %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// LoadWeights reads a weights file.
func LoadWeights(path string) (Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gnn: load weights: %w", err)
	}
	defer f.Close()
	w, err := ReadWeights(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}
