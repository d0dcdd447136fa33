package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// WeightsFromONNX reads m's weights back from an fp32 model that Build
// wrote, this version or an earlier one: every weight is the initialiser
// of its own name (some written in another shape with the same values,
// e.g. enc/patch/b as [S, 1, D]) except the GRU's, which are read from
// the packed enc/gru/W, R and B. A weight that is missing or of another
// size is an error naming it.
func WeightsFromONNX(m *gnn.Model, fp *onnx.Model) (gnn.Weights, error) {
	if m == nil || fp == nil || fp.Graph == nil {
		return nil, fmt.Errorf("%w: weights from ONNX: nil model", ErrExport)
	}
	inits := map[string]*onnx.Tensor{}
	for _, in := range fp.Graph.Initializers() {
		inits[in.Name] = in.Tensor
	}
	read := func(name string, n int) ([]float32, error) {
		t, ok := inits[name]
		if !ok {
			return nil, fmt.Errorf("%w: weights from ONNX: no fp32 initialiser %q", ErrExport, name)
		}
		d, err := onnx.TensorData[float32](t)
		if err != nil {
			return nil, fmt.Errorf("%w: weights from ONNX: %s: %w", ErrExport, name, err)
		}
		if len(d) != n {
			return nil, fmt.Errorf("%w: weights from ONNX: %s has %d values, the model's weight %d", ErrExport, name, len(d), n)
		}
		return d, nil
	}
	w := gnn.InitWeights(m, 0)
	filled := map[string]bool{}
	for i := range w {
		t := &w[i]
		if strings.HasPrefix(t.Name, "enc/gru/") {
			filled[t.Name] = true // packed, below
			continue
		}
		if _, ok := inits[t.Name]; !ok {
			continue // in a block, below
		}
		d, err := read(t.Name, len(t.Data))
		if err != nil {
			return nil, err
		}
		copy(t.Data, d)
		filled[t.Name] = true
	}
	// The weights Build put into blocks (the same blocks for any weights
	// of m).
	_, lay, err := build(m, w, GraphOptions{})
	if err != nil {
		return nil, err
	}
	for name, parts := range lay.blocks {
		t, ok := inits[name]
		if !ok || len(t.Dims) != 2 {
			continue
		}
		d, err := read(name, int(t.Dims[0]*t.Dims[1]))
		if err != nil {
			return nil, err
		}
		if err := unblock(w, name, parts, d, int(t.Dims[1])); err != nil {
			return nil, err
		}
		for _, p := range parts {
			filled[p.Weight] = true
		}
	}
	for name, names := range lay.vectors {
		if err := unconcat(w, inits, read, name, names, 1, filled); err != nil {
			return nil, err
		}
	}
	for name, names := range lay.sensorBias {
		if err := unconcat(w, inits, read, name, names, m.Sensors, filled); err != nil {
			return nil, err
		}
	}
	for _, t := range w {
		if !filled[t.Name] {
			return nil, fmt.Errorf("%w: weights from ONNX: no fp32 initialiser %q or block holding it", ErrExport, t.Name)
		}
	}
	H := m.Sizes.Hidden
	for _, name := range []string{"enc/gru/W", "enc/gru/R"} {
		d, err := read(name, 3*H*H)
		if err != nil {
			return nil, err
		}
		if err := unpackGRU(w, name, d); err != nil {
			return nil, err
		}
	}
	bd, err := read("enc/gru/B", 6*H)
	if err != nil {
		return nil, err
	}
	for gi, gate := range []string{"z", "r", "n"} {
		copy(w.Get("enc/gru/"+gate+"/bx").Data, bd[gi*H:(gi+1)*H])
		copy(w.Get("enc/gru/"+gate+"/bh").Data, bd[(3+gi)*H:(4+gi)*H])
	}
	if err := w.Check(m); err != nil {
		return nil, fmt.Errorf("%w: weights from ONNX: %w", ErrExport, err)
	}
	return w, nil
}

// Reexport rewrites the model files of the bundle in dir with this
// exporter's graph, from the weights of its own fp32 file
// (WeightsFromONNX; the model rebuilt with gnn.New from cfg, the input
// spec's steps and the sizes in the manifest's provenance): a change of
// how the graph is written, not of the model, without retraining. The
// metadata and doc string of each file are kept, and the manifest changes
// only in the files' digests and sizes; the int8 file's thresholds are
// kept, which is right only when the int8 file computes with the same
// weights (onnx.Quantize's values per column, as Quantized writes them):
// the caller checks the outputs (TestReexportShipped). Files are written
// as WriteBundle writes them, the manifest last.
func Reexport(dir string, cfg *rig.Config) (*bundle.Manifest, error) {
	man, err := bundle.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: reexport: %w", ErrExport, err)
	}
	if err := man.CheckRig(cfg); err != nil {
		return nil, fmt.Errorf("%w: reexport %s: %w", ErrExport, dir, err)
	}
	var sizes gnn.Sizes
	b, err := json.Marshal(man.Provenance.Config)
	if err == nil {
		err = json.Unmarshal(b, &sizes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reexport %s: sizes from the provenance: %w", ErrExport, dir, err)
	}
	m, err := gnn.New(cfg, man.Input.Steps, sizes)
	if err != nil {
		return nil, fmt.Errorf("%w: reexport %s: %w", ErrExport, dir, err)
	}
	fpEntry := man.Model(bundle.FP32)
	if fpEntry == nil {
		return nil, fmt.Errorf("%w: reexport %s: no fp32 model", ErrExport, dir)
	}
	old := map[string]*onnx.Model{}
	for _, mf := range man.Models {
		data, err := os.ReadFile(filepath.Join(dir, mf.File))
		if err != nil {
			return nil, fmt.Errorf("%w: reexport: %w", ErrExport, err)
		}
		if old[mf.File], err = onnx.Unmarshal(data); err != nil {
			return nil, fmt.Errorf("%w: reexport %s: %w", ErrExport, mf.File, err)
		}
	}
	w, err := WeightsFromONNX(m, old[fpEntry.File])
	if err != nil {
		return nil, fmt.Errorf("reexport %s: %w", dir, err)
	}
	datas := make([][]byte, len(man.Models))
	for i, mf := range man.Models {
		o := old[mf.File]
		opts := GraphOptions{Metadata: o.Metadata, Doc: o.Doc}
		var nm *onnx.Model
		switch {
		case mf.Precision == bundle.FP32:
			nm, err = Build(m, w, opts)
		case mf.Quantization == bundle.QuantWeightQDQ:
			nm, _, err = Quantized(m, w, onnx.WeightOnly, opts)
		case mf.Quantization == bundle.QuantDynamic:
			nm, _, err = Quantized(m, w, onnx.Dynamic, opts)
		default:
			err = fmt.Errorf("%w: %s: quantization %q", ErrExport, mf.File, mf.Quantization)
		}
		if err != nil {
			return nil, fmt.Errorf("reexport %s: %w", dir, err)
		}
		if datas[i], err = nm.Marshal(); err != nil {
			return nil, fmt.Errorf("%w: reexport %s: %w", ErrExport, mf.File, err)
		}
		sum := sha256.Sum256(datas[i])
		man.Models[i].SHA256, man.Models[i].Bytes = hex.EncodeToString(sum[:]), int64(len(datas[i]))
	}
	if err := man.Validate(); err != nil {
		return nil, fmt.Errorf("%w: reexport %s: %w", ErrExport, dir, err)
	}
	for i, data := range datas {
		if err := writeFile(filepath.Join(dir, man.Models[i].File), data); err != nil {
			return nil, fmt.Errorf("%w: reexport: %w", ErrExport, err)
		}
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("%w: reexport: %w", ErrExport, err)
	}
	if err := bundle.Write(dir, man); err != nil {
		return nil, fmt.Errorf("%w: reexport: %w", ErrExport, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("%w: reexport: %w", ErrExport, err)
	}
	return man, nil
}

// unconcat splits initialiser name, the weights names side by side in
// each of rows rows (concatVector: 1 row; perSensorBias: S rows), back
// into those weights.
func unconcat(w gnn.Weights, inits map[string]*onnx.Tensor, read func(string, int) ([]float32, error),
	name string, names []string, rows int, filled map[string]bool) error {
	if _, ok := inits[name]; !ok {
		return nil
	}
	total := 0
	for _, n := range names {
		total += len(w.Get(n).Data)
	}
	d, err := read(name, total)
	if err != nil {
		return err
	}
	width := total / rows
	off := 0
	for _, n := range names {
		t := w.Get(n)
		k := len(t.Data) / rows
		for r := range rows {
			copy(t.Data[r*k:(r+1)*k], d[r*width+off:r*width+off+k])
		}
		off += k
		filled[n] = true
	}
	return nil
}
