package tarball_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tarball"
)

// failAfter gives the first n bytes of r, then err: a connection to a blob
// store that drops mid-archive (err a network error) or an archive cut
// short (err io.EOF).
type failAfter struct {
	r   io.Reader
	n   int
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// readerArchive is a tar.gz of incompressible files (so that every cut
// point lands in the files' bytes or headers, before the archive's end).
func readerArchive(t *testing.T) []byte {
	t.Helper()
	src := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for _, n := range []string{"a.bin", "b.bin", "c.bin"} {
		b := make([]byte, 32<<10)
		rng.Read(b)
		if err := os.WriteFile(filepath.Join(src, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := tarball.Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readers are the three ways to read an archive, each to its last file.
var readers = map[string]func(t *testing.T, r io.Reader) error{
	"Extract": func(t *testing.T, r io.Reader) error {
		return tarball.Extract(r, filepath.Join(t.TempDir(), "out"), tarball.Limits{})
	},
	"Check": func(_ *testing.T, r io.Reader) error { return tarball.Check(r, tarball.Limits{}) },
	"ReadFile": func(_ *testing.T, r io.Reader) error {
		_, err := tarball.ReadFile(r, "c.bin", 1<<20)
		return err
	},
}

// TestSourceReadError: a failure of the reader the archive comes from is
// returned matching its cause and not ErrInvalid (a rig-cloud worker
// retries the job rather than failing it for a bad data set), while the
// same archive cut short at the same point (the reader ends cleanly) is
// an invalid archive.
func TestSourceReadError(t *testing.T) {
	data := readerArchive(t)
	errDrop := errors.New("connection reset by peer")
	for name, read := range readers {
		for _, cut := range []int{0, 5, 100, 4096, len(data) / 2, len(data) - 2000} {
			t.Run(fmt.Sprintf("%s/%d", name, cut), func(t *testing.T) {
				err := read(t, &failAfter{r: bytes.NewReader(data), n: cut, err: errDrop})
				if !errors.Is(err, errDrop) || errors.Is(err, tarball.ErrInvalid) {
					t.Errorf("read error: %v, want the reader's error, not ErrInvalid", err)
				}
				err = read(t, &failAfter{r: bytes.NewReader(data), n: cut, err: io.EOF})
				if !errors.Is(err, tarball.ErrInvalid) {
					t.Errorf("archive cut short: %v, want ErrInvalid", err)
				}
			})
		}
		// The error a reader gives with its last bytes counts too.
		t.Run(name+"/with-data", func(t *testing.T) {
			err := read(t, io.MultiReader(bytes.NewReader(data[:len(data)/2]), &dataThenErr{b: data[len(data)/2 : len(data)/2+100], err: errDrop}))
			if !errors.Is(err, errDrop) || errors.Is(err, tarball.ErrInvalid) {
				t.Errorf("read error with data: %v, want the reader's error, not ErrInvalid", err)
			}
		})
	}
}

// dataThenErr returns b and err from one Read.
type dataThenErr struct {
	b   []byte
	err error
}

func (d *dataThenErr) Read(p []byte) (int, error) {
	n := copy(p, d.b)
	d.b = d.b[n:]
	return n, d.err
}

// TestFormatErrors: the gzip and tar readers' own errors (a bad gzip
// header, a bad tar header, a bad gzip checksum: Extract and Check read
// the gzip stream to its end) are ErrInvalid.
func TestFormatErrors(t *testing.T) {
	data := readerArchive(t)
	badMagic := bytes.Clone(data)
	badMagic[0] = 0
	var garbage bytes.Buffer
	zw := gzip.NewWriter(&garbage)
	_, _ = zw.Write(bytes.Repeat([]byte("not a tar header "), 100))
	_ = zw.Close()
	badCRC := bytes.Clone(data)
	badCRC[len(badCRC)-8] ^= 0xff
	for name, read := range readers {
		for what, b := range map[string][]byte{"gzip header": badMagic, "tar header": garbage.Bytes(), "gzip checksum": badCRC} {
			if name == "ReadFile" && what == "gzip checksum" {
				continue // it stops at the file, before the checksum
			}
			if err := read(t, bytes.NewReader(b)); !errors.Is(err, tarball.ErrInvalid) {
				t.Errorf("%s, bad %s: %v, want ErrInvalid", name, what, err)
			}
		}
	}
}
