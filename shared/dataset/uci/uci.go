package uci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

// Sensors are the 17 sensor ids of the UCI hydraulic data set, in the
// order of its documentation. Read uses them when given no sensors.
var Sensors = []string{"PS1", "PS2", "PS3", "PS4", "PS5", "PS6", "EPS1", "FS1", "FS2",
	"TS1", "TS2", "TS3", "TS4", "VS1", "CE", "CP", "SE"}

// TargetNames are the columns of the UCI set's profile.txt.
var TargetNames = []string{"cooler", "valve", "pump", "accumulator", "stable"}

// Targets is the number of profile.txt columns in the UCI set.
const Targets = 5

// File names besides the per-sensor "<ID>.txt".
const (
	ProfileFile = "profile.txt"
	CyclesFile  = "cycles.txt"
)

// MaxLine is the longest line Read accepts, in bytes (64 MiB; a 100 Hz
// sensor's 6000 samples take about 60 KiB).
const MaxLine = 64 << 20

// Set is a data set in the UCI layout: per-cycle sample matrices of some
// sensors, the targets of each cycle, and the cycles' original numbers.
//
// Rows of one sensor share one backing array; a Set is plain data, safe
// for concurrent reads.
type Set struct {
	// Sensors are the sensor ids, in the order of Data.
	Sensors []string
	// Cycles is the number of cycles (lines of every file).
	Cycles int
	// Data[s][c] holds the samples of sensor Sensors[s] in cycle c. All
	// cycles of one sensor have the same number of samples (its rate
	// times the cycle length); sensors may differ.
	Data [][][]float64
	// Profile[c] holds the target values of cycle c (nil: no profile).
	Profile [][]float64
	// CycleIDs[c] is the original number of cycle c (nil: no cycles.txt).
	CycleIDs []int
}

// Sensor returns the matrix of sensor id, or nil when the set lacks it.
func (s *Set) Sensor(id string) [][]float64 {
	for i, sid := range s.Sensors {
		if sid == id {
			return s.Data[i]
		}
	}
	return nil
}

// Samples returns the number of samples per cycle of sensor index i.
func (s *Set) Samples(i int) int {
	if s.Cycles == 0 {
		return 0
	}
	return len(s.Data[i][0])
}

// Validate checks that the set can be written: matching counts, one width
// per matrix, finite values, sensor ids usable as file names.
func (s *Set) Validate() error {
	if s.Cycles < 0 {
		return fmt.Errorf("uci: %d cycles", s.Cycles)
	}
	if len(s.Data) != len(s.Sensors) {
		return fmt.Errorf("uci: %d sensors but %d data matrices", len(s.Sensors), len(s.Data))
	}
	seen := map[string]bool{}
	for i, id := range s.Sensors {
		if err := checkID(id); err != nil {
			return err
		}
		if seen[id] {
			return fmt.Errorf("uci: sensor %q listed twice", id)
		}
		seen[id] = true
		if err := checkMatrix(id+".txt", s.Data[i], s.Cycles); err != nil {
			return err
		}
	}
	if s.Profile != nil {
		if err := checkMatrix(ProfileFile, s.Profile, s.Cycles); err != nil {
			return err
		}
	}
	if s.CycleIDs != nil && len(s.CycleIDs) != s.Cycles {
		return fmt.Errorf("uci: %d cycle ids for %d cycles", len(s.CycleIDs), s.Cycles)
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return errors.New("uci: empty sensor id")
	}
	if id+".txt" == ProfileFile || id+".txt" == CyclesFile {
		return fmt.Errorf("uci: sensor id %q clashes with %s", id, id+".txt")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0) {
			return fmt.Errorf("uci: sensor id %q: only letters, digits, '_', '-' and '.' (not first) make a file name", id)
		}
	}
	return nil
}

func checkMatrix(name string, m [][]float64, cycles int) error {
	if len(m) != cycles {
		return fmt.Errorf("uci: %s has %d rows, want %d cycles", name, len(m), cycles)
	}
	for c, row := range m {
		if len(row) == 0 {
			return fmt.Errorf("uci: %s row %d is empty", name, c+1)
		}
		if len(row) != len(m[0]) {
			return fmt.Errorf("uci: %s row %d has %d columns, row 1 has %d", name, c+1, len(row), len(m[0]))
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("uci: %s row %d column %d: value %v is not finite", name, c+1, j+1, v)
			}
		}
	}
	return nil
}

// Read reads a UCI-layout folder: "<ID>.txt" for each of sensors (nil:
// all of Sensors), profile.txt when targets > 0 (it must have exactly
// that many columns; 0: profile.txt is not read), and cycles.txt when it
// exists.
//
// Every file must have the same number of lines, and every line of one
// file the same number of tab-separated values. Errors name the file,
// line and column, the file by its path (dir joined with its name). Sensor
// files are read in parallel (GOMAXPROCS).
func Read(dir string, sensors []string, targets int) (*Set, error) {
	return ReadContext(context.Background(), dir, sensors, targets)
}

// ctxLines is how many lines a file is read between checks of the
// context (ReadContext).
const ctxLines = 256

// ReadContext is Read stopped by ctx: it checks ctx before each file and
// every 256 lines of it, and returns ctx's error wrapped (naming the file
// and line) once ctx ends.
func ReadContext(ctx context.Context, dir string, sensors []string, targets int) (*Set, error) {
	if sensors == nil {
		sensors = Sensors
	}
	if targets < 0 {
		return nil, fmt.Errorf("uci: %d targets; want 0 (no profile) or more", targets)
	}
	set := &Set{Sensors: append([]string(nil), sensors...), Data: make([][][]float64, len(sensors))}
	seen := map[string]bool{}
	for _, id := range sensors {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("uci: sensor %q listed twice", id)
		}
		seen[id] = true
	}

	errs := make([]error, len(sensors))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(sensors)); w++ {
		wg.Go(func() {
			for i := range jobs {
				set.Data[i], errs[i] = readMatrix(ctx, dir, sensors[i]+".txt", 0)
			}
		})
	}
	for i := range sensors {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	// Line counts must agree; the first file sets the count.
	first := ""
	set.Cycles = -1
	agree := func(name string, n int) error {
		if set.Cycles < 0 {
			set.Cycles, first = n, filepath.Base(name)
			return nil
		}
		if n != set.Cycles {
			// Both files lie in dir: its path is named once.
			return fmt.Errorf("uci: %s has %d lines, %s has %d", name, n, first, set.Cycles)
		}
		return nil
	}
	for i, id := range sensors {
		if err := agree(filepath.Join(dir, id+".txt"), len(set.Data[i])); err != nil {
			return nil, err
		}
	}
	if targets > 0 {
		p, err := readMatrix(ctx, dir, ProfileFile, targets)
		if err != nil {
			return nil, err
		}
		if err := agree(filepath.Join(dir, ProfileFile), len(p)); err != nil {
			return nil, err
		}
		set.Profile = p
	}
	ids, err := readCycles(dir)
	if err != nil {
		return nil, err
	}
	if ids != nil {
		if err := agree(filepath.Join(dir, CyclesFile), len(ids)); err != nil {
			return nil, err
		}
		set.CycleIDs = ids
	}
	if set.Cycles < 0 {
		set.Cycles = 0
	}
	return set, nil
}

// readMatrix reads one tab-separated matrix. width > 0 fixes the number of
// columns; 0 takes it from the first line. Errors name the file by its
// path (dir joined with name): two folders may hold the same names.
func readMatrix(ctx context.Context, dir, name string, width int) ([][]float64, error) {
	path := filepath.Join(dir, name)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("uci: %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	defer f.Close()
	var flat []float64
	rows := 0
	err = eachLine(f, path, func(line []byte, n int) error {
		if n%ctxLines == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("uci: %s line %d: %w", path, n, err)
			}
		}
		before := len(flat)
		var col int
		var err error
		flat, col, err = ParseLine(line, flat)
		if err != nil {
			return fmt.Errorf("uci: %s line %d column %d: %w", path, n, col, err)
		}
		got := len(flat) - before
		if width == 0 {
			width = got
		} else if got != width {
			if name == ProfileFile {
				return fmt.Errorf("uci: %s line %d has %d columns, want %d targets", path, n, got, width)
			}
			return fmt.Errorf("uci: %s line %d has %d columns, line 1 has %d", path, n, got, width)
		}
		if rows == 0 && name != ProfileFile {
			// Size the backing array once the width is known; a file's
			// size bounds the line count, so no guess can run away.
			if fi, err := f.Stat(); err == nil && width > 0 {
				est := (int(fi.Size()/int64(len(line)+1)) + 1) * width
				est = min(est, int(fi.Size()/2)) // a value takes 2 bytes or more
				flat = append(make([]float64, 0, max(est, len(flat))), flat...)
			}
		}
		rows++
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := make([][]float64, rows)
	for i := range m {
		m[i] = flat[i*width : (i+1)*width : (i+1)*width]
	}
	return m, nil
}

// readCycles reads cycles.txt, or returns nil when there is none.
func readCycles(dir string) ([]int, error) {
	path := filepath.Join(dir, CyclesFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	defer f.Close()
	ids := []int{}
	err = eachLine(f, path, func(line []byte, n int) error {
		id, err := strconv.Atoi(string(line))
		if err != nil {
			return fmt.Errorf("uci: %s line %d: cycle number %q is not an integer", path, n, line)
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// eachLine calls fn for each line (without its end, trailing blanks, tabs
// or '\r') with its 1-based number. Empty lines at the end of the file are
// ignored; an empty line before a non-empty one is an error.
func eachLine(r io.Reader, name string, fn func(line []byte, n int) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	n, empty := 0, 0
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(chunk) > MaxLine {
				return fmt.Errorf("uci: %s line %d is longer than %d bytes", name, n+1, MaxLine)
			}
			long = append(long, chunk...)
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("uci: read %s: %w", name, err)
		}
		line := chunk
		if long != nil {
			long = append(long, chunk...)
			line = long
		}
		if len(line) > 0 {
			n++
			line = bytes.TrimRight(line, "\n\r\t ")
			if len(line) == 0 {
				empty++
			} else {
				if empty > 0 {
					return fmt.Errorf("uci: %s line %d is empty", name, n-empty)
				}
				if err := fn(line, n); err != nil {
					return err
				}
			}
		}
		long = nil
		if err == io.EOF {
			return nil
		}
	}
}

// ParseLine parses one line of tab-separated decimal numbers (without its
// end), appending them to dst. On error it returns the 1-based column at
// fault. NaN, infinities, hex and empty values are errors.
func ParseLine(line []byte, dst []float64) ([]float64, int, error) {
	col := 0
	for start := 0; ; {
		col++
		end := bytes.IndexByte(line[start:], '\t')
		if end < 0 {
			end = len(line)
		} else {
			end += start
		}
		v, err := dataset.ParseValue(line[start:end])
		if err != nil {
			return dst, col, err
		}
		dst = append(dst, v)
		if end == len(line) {
			return dst, 0, nil
		}
		start = end + 1
	}
}

// Write writes set into dir (created if needed) in the UCI layout:
// "<ID>.txt" per sensor, profile.txt when set.Profile is not nil,
// cycles.txt when set.CycleIDs is not nil. Values are written with the
// shortest representation that reads back to the same float64. Each file
// is written to a temporary name and renamed, so a reader never sees a
// partial file. It writes through a Writer, cycle by cycle.
func Write(dir string, set *Set) error {
	if err := set.Validate(); err != nil {
		return err
	}
	w, err := NewWriter(dir, set.Sensors, set.Profile != nil, set.CycleIDs != nil)
	if err != nil {
		return err
	}
	defer w.Abort()
	data := make([][]float64, len(set.Sensors))
	for c := range set.Cycles {
		for s := range data {
			data[s] = set.Data[s][c]
		}
		var profile []float64
		if set.Profile != nil {
			profile = set.Profile[c]
		}
		id := 0
		if set.CycleIDs != nil {
			id = set.CycleIDs[c]
		}
		if err := w.Append(data, profile, id); err != nil {
			return err
		}
	}
	return w.Close()
}

// Writer writes a data set in the UCI layout one cycle at a time, for
// sets too large to hold as a Set: each Append adds a line to every file
// at once, so memory stays at one cycle and the files' buffers. The files
// are written under temporary names in the folder and renamed into place
// by Close, so a reader never sees a partial file; Abort removes them.
// Write is Validate, then a Writer: both give the same bytes.
//
// A Writer is for one goroutine. A cycle Append refuses (a width or a
// value) writes nothing and the Writer stays usable; after a write error
// every later call returns it, and Close removes the files.
type Writer struct {
	dir     string
	sensors []string
	files   []*wfile // one per sensor, then profile.txt and cycles.txt when written
	profile *wfile
	cycles  *wfile
	widths  []int // of each sensor's rows (0: no row yet)
	pwidth  int
	n       int
	size    int64
	buf     []byte
	err     error
	done    bool
}

type wfile struct {
	name string
	f    *os.File
	w    *bufio.Writer
}

// NewWriter creates dir when needed and opens the temporary files of a
// set of sensors ("<ID>.txt" each), with profile.txt when profile is set
// and cycles.txt when cycleIDs is set.
func NewWriter(dir string, sensors []string, profile, cycleIDs bool) (*Writer, error) {
	seen := map[string]bool{}
	for _, id := range sensors {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("uci: sensor %q listed twice", id)
		}
		seen[id] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	w := &Writer{dir: dir, sensors: slices.Clone(sensors), widths: make([]int, len(sensors))}
	open := func(name string) (*wfile, error) {
		f, err := os.CreateTemp(dir, "."+name+".tmp*")
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("uci: %w", err)
		}
		wf := &wfile{name: name, f: f, w: bufio.NewWriterSize(f, 1<<16)}
		w.files = append(w.files, wf)
		return wf, nil
	}
	for _, id := range sensors {
		if _, err := open(id + ".txt"); err != nil {
			return nil, err
		}
	}
	var err error
	if profile {
		if w.profile, err = open(ProfileFile); err != nil {
			return nil, err
		}
	}
	if cycleIDs {
		if w.cycles, err = open(CyclesFile); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Cycles returns the number of cycles appended.
func (w *Writer) Cycles() int { return w.n }

// Bytes returns the number of bytes of the lines appended (the files'
// sizes once closed).
func (w *Writer) Bytes() int64 { return w.size }

// Append writes one cycle: data[s] the samples of sensor s (in the
// order given to NewWriter), profile its target values (nil when the
// Writer has no profile.txt) and id its number in cycles.txt (ignored
// without). A sensor's rows, and the profile rows, must all have the
// width of the first; values must be finite. The slices are not kept.
func (w *Writer) Append(data [][]float64, profile []float64, id int) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("uci: append to a closed writer")
	}
	if len(data) != len(w.sensors) {
		return fmt.Errorf("uci: cycle %d has %d sensors' rows, want %d", w.n+1, len(data), len(w.sensors))
	}
	for s, row := range data {
		if err := checkRow(w.sensors[s]+".txt", row, w.n, &w.widths[s]); err != nil {
			return err
		}
	}
	switch {
	case w.profile == nil && profile != nil:
		return fmt.Errorf("uci: cycle %d has a profile row, the writer writes no %s", w.n+1, ProfileFile)
	case w.profile != nil:
		if err := checkRow(ProfileFile, profile, w.n, &w.pwidth); err != nil {
			return err
		}
	}
	for s, row := range data {
		w.writeRow(w.files[s], row)
	}
	if w.profile != nil {
		w.writeRow(w.profile, profile)
	}
	if w.cycles != nil && w.err == nil {
		w.buf = strconv.AppendInt(w.buf[:0], int64(id), 10)
		w.buf = append(w.buf, '\n')
		w.write(w.cycles)
	}
	if w.err != nil {
		return w.err
	}
	w.n++
	return nil
}

// checkRow checks row n (0-based) of file name against the width of its
// first row (*width, set by row 0).
func checkRow(name string, row []float64, n int, width *int) error {
	if len(row) == 0 {
		return fmt.Errorf("uci: %s row %d is empty", name, n+1)
	}
	if n == 0 {
		*width = len(row)
	} else if len(row) != *width {
		return fmt.Errorf("uci: %s row %d has %d columns, row 1 has %d", name, n+1, len(row), *width)
	}
	for j, v := range row {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("uci: %s row %d column %d: value %v is not finite", name, n+1, j+1, v)
		}
	}
	return nil
}

// writeRow writes one line of tab-separated values (the shortest text
// that reads back to the same float64).
func (w *Writer) writeRow(f *wfile, row []float64) {
	w.buf = w.buf[:0]
	for j, v := range row {
		if j > 0 {
			w.buf = append(w.buf, '\t')
		}
		w.buf = strconv.AppendFloat(w.buf, v, 'g', -1, 64)
	}
	w.buf = append(w.buf, '\n')
	w.write(f)
}

func (w *Writer) write(f *wfile) {
	if w.err != nil {
		return
	}
	if _, err := f.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("uci: write %s: %w", filepath.Join(w.dir, f.name), err)
		return
	}
	w.size += int64(len(w.buf))
}

// ErrAborted is what Close and Append return after Abort: no file was
// put in place.
var ErrAborted = errors.New("uci: the writer was aborted: no file was written")

// Close flushes the files and renames them into place. After an error
// (of Append or its own) the files are removed and the error returned;
// after Abort it returns ErrAborted. Closing twice returns nil.
func (w *Writer) Close() error {
	if w.done && w.err == nil {
		return nil
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	for _, f := range w.files {
		err := f.w.Flush()
		if err == nil {
			err = f.f.Chmod(0o644)
		}
		if err == nil {
			err = f.f.Close()
		}
		if err != nil {
			w.err = fmt.Errorf("uci: write %s: %w", filepath.Join(w.dir, f.name), err)
			w.Abort()
			return w.err
		}
	}
	for _, f := range w.files {
		if err := os.Rename(f.f.Name(), filepath.Join(w.dir, f.name)); err != nil {
			w.err = fmt.Errorf("uci: write %s: %w", filepath.Join(w.dir, f.name), err)
			w.Abort()
			return w.err
		}
	}
	w.done = true
	return nil
}

// Abort closes and removes the temporary files: the folder gets none of
// them, and a later Close or Append returns ErrAborted (or the error
// that came first). It is a no-op after a successful Close, so a
// deferred Abort cleans up on every error path.
func (w *Writer) Abort() {
	if w.done && w.err == nil {
		return
	}
	if w.err == nil {
		w.err = ErrAborted
	}
	for _, f := range w.files {
		f.f.Close()
		os.Remove(f.f.Name())
	}
	w.files = nil
	w.done = true
}
