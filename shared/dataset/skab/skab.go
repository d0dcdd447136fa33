package skab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

// Columns are the 8 sensor columns of the SKAB files, in file order.
var Columns = []string{"Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure",
	"Temperature", "Thermocouple", "Voltage", "Volume Flow RateRMS"}

// Names of the special columns.
const (
	TimeColumn        = "datetime"
	AnomalyColumn     = "anomaly"
	ChangepointColumn = "changepoint"
)

// TimeLayout is the layout of the datetime column (fractional seconds
// are accepted too).
const TimeLayout = "2006-01-02 15:04:05"

// MaxLine is the longest line Parse accepts, in bytes.
const MaxLine = 1 << 20

// File is one SKAB file: a time series of sensor rows with optional labels.
// It is plain data, safe for concurrent reads.
type File struct {
	// Name is the name given to Parse (the path, for Read).
	Name string
	// Columns are the sensor columns, in file order, without datetime and
	// the label columns.
	Columns []string
	// Times[r] is the time of row r. The files carry no time zone; the
	// wall-clock time is kept and marked UTC.
	Times []time.Time
	// Values[r][c] is the value of column Columns[c] in row r. Rows share
	// one backing array.
	Values [][]float64
	// Anomaly[r] is the anomaly label of row r (nil: no anomaly column).
	Anomaly []bool
	// Changepoint[r] is the changepoint label of row r (nil: no
	// changepoint column).
	Changepoint []bool
}

// Column returns the index of the sensor column called name, or -1.
func (f *File) Column(name string) int {
	return slices.Index(f.Columns, name)
}

// Read reads the SKAB file at path.
func Read(path string) (*File, error) {
	return ReadContext(context.Background(), path)
}

// ReadContext is Read stopped by ctx (see ParseContext).
func ReadContext(ctx context.Context, path string) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("skab: %s: %w", path, err)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("skab: %w", err)
	}
	defer fh.Close()
	return ParseContext(ctx, fh, path)
}

// CtxRows is how many lines ParseContext reads between checks of its
// context.
const CtxRows = 1024

// Files returns the paths of every *.csv file under dir (recursively),
// sorted.
func Files(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".csv") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("skab: %w", err)
	}
	slices.Sort(paths)
	return paths, nil
}

// Parse reads a SKAB CSV from r; name is used in errors. The first line
// is the header: "datetime", then sensor columns, with "anomaly" and
// "changepoint" taken as label columns wherever they stand. Fields are
// separated by ';'. Errors name the file, line and column.
func Parse(r io.Reader, name string) (*File, error) {
	return ParseContext(context.Background(), r, name)
}

// ParseContext is Parse stopped by ctx: it checks ctx before the first
// line and every CtxRows lines, and returns ctx's error wrapped (naming
// the file and line) once ctx ends, so that a cancel does not wait for
// a large file to be read to its end.
func ParseContext(ctx context.Context, r io.Reader, name string) (*File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	f := &File{Name: name}
	line := 0
	var (
		kinds  []byte // per field: 't' time, 'v' value, 'a' anomaly, 'c' changepoint
		flat   []float64
		fields [][]byte
		blank  int
	)
	for {
		if line%CtxRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("skab: %s line %d: %w", name, line+1, err)
			}
		}
		if !sc.Scan() {
			break
		}
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf")) // UTF-8 BOM
			var err error
			if kinds, err = f.header(text); err != nil {
				return nil, err
			}
			continue
		}
		if len(bytes.TrimSpace(text)) == 0 {
			blank++
			continue
		}
		if blank > 0 {
			return nil, fmt.Errorf("skab: %s line %d is empty", name, line-blank)
		}
		fields = split(fields[:0], text)
		if len(fields) != len(kinds) {
			return nil, fmt.Errorf("skab: %s line %d has %d fields, the header has %d", name, line, len(fields), len(kinds))
		}
		for i, fv := range fields {
			fv = bytes.TrimSpace(fv)
			bad := func(format string, args ...any) error {
				return fmt.Errorf("skab: %s line %d column %d (%s): %s", name, line, i+1, f.columnName(kinds, i), fmt.Sprintf(format, args...))
			}
			switch kinds[i] {
			case 't':
				t, err := parseTime(fv)
				if err != nil {
					return nil, bad("bad datetime %s: want %s", dataset.Quote(fv), TimeLayout)
				}
				f.Times = append(f.Times, t)
			default:
				v, err := dataset.ParseValue(fv)
				if err != nil {
					return nil, bad("%v", err)
				}
				switch kinds[i] {
				case 'v':
					flat = append(flat, v)
				case 'a', 'c':
					if v != 0 && v != 1 {
						return nil, bad("label %s is not 0 or 1", dataset.Quote(fv))
					}
					if kinds[i] == 'a' {
						f.Anomaly = append(f.Anomaly, v == 1)
					} else {
						f.Changepoint = append(f.Changepoint, v == 1)
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("skab: %s line %d is longer than %d bytes", name, line+1, MaxLine)
		}
		return nil, fmt.Errorf("skab: read %s: %w", name, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("skab: %s is empty: no header", name)
	}
	w := len(f.Columns)
	f.Values = make([][]float64, len(f.Times))
	for r := range f.Values {
		f.Values[r] = flat[r*w : (r+1)*w : (r+1)*w]
	}
	// Label columns present but no rows: empty, not nil.
	for _, k := range kinds {
		if k == 'a' && f.Anomaly == nil {
			f.Anomaly = []bool{}
		}
		if k == 'c' && f.Changepoint == nil {
			f.Changepoint = []bool{}
		}
	}
	return f, nil
}

// header reads the header line into f.Columns and returns each field's kind.
func (f *File) header(text []byte) ([]byte, error) {
	fields := split(nil, text)
	kinds := make([]byte, len(fields))
	seen := map[string]bool{}
	for i, raw := range fields {
		col := string(bytes.TrimSpace(raw))
		switch {
		case col == "":
			return nil, fmt.Errorf("skab: %s line 1 column %d: empty column name", f.Name, i+1)
		case seen[col]:
			return nil, fmt.Errorf("skab: %s line 1 column %d: column %q appears twice", f.Name, i+1, col)
		case i == 0 && col != TimeColumn:
			return nil, fmt.Errorf("skab: %s line 1: first column is %q, want %q (is it a SKAB file, separated by ';'?)", f.Name, col, TimeColumn)
		case i == 0:
			kinds[i] = 't'
		case col == AnomalyColumn:
			kinds[i] = 'a'
		case col == ChangepointColumn:
			kinds[i] = 'c'
		default:
			kinds[i] = 'v'
			f.Columns = append(f.Columns, col)
		}
		seen[col] = true
	}
	if len(f.Columns) == 0 {
		return nil, fmt.Errorf("skab: %s line 1: no sensor columns", f.Name)
	}
	return kinds, nil
}

// columnName names field i for errors.
func (f *File) columnName(kinds []byte, i int) string {
	switch kinds[i] {
	case 't':
		return TimeColumn
	case 'a':
		return AnomalyColumn
	case 'c':
		return ChangepointColumn
	}
	n := 0
	for _, k := range kinds[:i] {
		if k == 'v' {
			n++
		}
	}
	return f.Columns[n]
}

func split(dst [][]byte, text []byte) [][]byte {
	for {
		i := bytes.IndexByte(text, ';')
		if i < 0 {
			return append(dst, text)
		}
		dst = append(dst, text[:i])
		text = text[i+1:]
	}
}

// parseTime parses "YYYY-MM-DD HH:MM:SS" with an optional fraction (a 'T'
// may stand for the space).
func parseTime(b []byte) (time.Time, error) {
	if len(b) < 19 || (b[10] != ' ' && b[10] != 'T') {
		return time.Time{}, errors.New("bad datetime")
	}
	s := string(b)
	if b[10] == 'T' {
		s = s[:10] + " " + s[11:]
	}
	if len(s) > 19 && s[19] != '.' {
		return time.Time{}, errors.New("bad datetime")
	}
	return time.Parse("2006-01-02 15:04:05.999999999", s)
}
