package uci

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
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
// line and column. Sensor files are read in parallel (GOMAXPROCS).
func Read(dir string, sensors []string, targets int) (*Set, error) {
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
				set.Data[i], errs[i] = readMatrix(dir, sensors[i]+".txt", 0)
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
			set.Cycles, first = n, name
			return nil
		}
		if n != set.Cycles {
			return fmt.Errorf("uci: %s has %d lines, %s has %d", name, n, first, set.Cycles)
		}
		return nil
	}
	for i, id := range sensors {
		if err := agree(id+".txt", len(set.Data[i])); err != nil {
			return nil, err
		}
	}
	if targets > 0 {
		p, err := readMatrix(dir, ProfileFile, targets)
		if err != nil {
			return nil, err
		}
		if err := agree(ProfileFile, len(p)); err != nil {
			return nil, err
		}
		set.Profile = p
	}
	ids, err := readCycles(dir)
	if err != nil {
		return nil, err
	}
	if ids != nil {
		if err := agree(CyclesFile, len(ids)); err != nil {
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
// columns; 0 takes it from the first line.
func readMatrix(dir, name string, width int) ([][]float64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	defer f.Close()
	var flat []float64
	rows := 0
	err = eachLine(f, name, func(line []byte, n int) error {
		before := len(flat)
		var col int
		var err error
		flat, col, err = ParseLine(line, flat)
		if err != nil {
			return fmt.Errorf("uci: %s line %d column %d: %w", name, n, col, err)
		}
		got := len(flat) - before
		if width == 0 {
			width = got
		} else if got != width {
			if name == ProfileFile {
				return fmt.Errorf("uci: %s line %d has %d columns, want %d targets", name, n, got, width)
			}
			return fmt.Errorf("uci: %s line %d has %d columns, line 1 has %d", name, n, got, width)
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
	f, err := os.Open(filepath.Join(dir, CyclesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	defer f.Close()
	ids := []int{}
	err = eachLine(f, CyclesFile, func(line []byte, n int) error {
		id, err := strconv.Atoi(string(line))
		if err != nil {
			return fmt.Errorf("uci: %s line %d: cycle number %q is not an integer", CyclesFile, n, line)
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
		f := line[start:end]
		if len(f) == 0 {
			return dst, col, errors.New("empty value")
		}
		if !isDecimal(f) {
			return dst, col, fmt.Errorf("%s is not a decimal number", quote(f))
		}
		v, err := strconv.ParseFloat(string(f), 64)
		if err != nil {
			return dst, col, fmt.Errorf("%s is not a finite float64", quote(f))
		}
		dst = append(dst, v)
		if end == len(line) {
			return dst, 0, nil
		}
		start = end + 1
	}
}

// isDecimal reports whether f holds only characters of a decimal number,
// refusing ParseFloat's hex, inf, nan and underscore forms.
func isDecimal(f []byte) bool {
	for _, c := range f {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

func quote(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "..."
	}
	return strconv.Quote(string(b))
}

// Write writes set into dir (created if needed) in the UCI layout:
// "<ID>.txt" per sensor, profile.txt when set.Profile is not nil,
// cycles.txt when set.CycleIDs is not nil. Values are written with the
// shortest representation that reads back to the same float64. Each file
// is written to a temporary name and renamed, so a reader never sees a
// partial file.
func Write(dir string, set *Set) error {
	if err := set.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	for i, id := range set.Sensors {
		if err := writeFile(dir, id+".txt", func(w *bufio.Writer) error { return writeMatrix(w, set.Data[i]) }); err != nil {
			return err
		}
	}
	if set.Profile != nil {
		if err := writeFile(dir, ProfileFile, func(w *bufio.Writer) error { return writeMatrix(w, set.Profile) }); err != nil {
			return err
		}
	}
	if set.CycleIDs != nil {
		err := writeFile(dir, CyclesFile, func(w *bufio.Writer) error {
			var b []byte
			for _, id := range set.CycleIDs {
				b = strconv.AppendInt(b[:0], int64(id), 10)
				b = append(b, '\n')
				if _, err := w.Write(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func writeMatrix(w *bufio.Writer, m [][]float64) error {
	var b []byte
	for _, row := range m {
		b = b[:0]
		for j, v := range row {
			if j > 0 {
				b = append(b, '\t')
			}
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(dir, name string, fill func(*bufio.Writer) error) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	tmp := f.Name()
	w := bufio.NewWriterSize(f, 1<<16)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("uci: write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}
