// Package tarball writes a folder as a gzip-compressed tar archive and
// extracts one safely: the format rigctl uploads data sets in and
// rig-cloud stores data sets and trained bundles as.
//
// Archives hold regular files and folders only, with slash-separated
// relative names; Extract refuses anything else (links, devices, absolute
// names, "..", duplicate names, names no file system takes) and stops at
// the limits, so an archive from a client can be extracted without
// trusting it. What Extract creates is private to the user (files 0600,
// folders 0700), whatever modes the archive gives. Extract and Check
// read the gzip stream to its end, so a bad checksum is a refusal too. A
// failure of the reader the archive comes from is told apart from a bad
// archive (see ErrInvalid).
package tarball

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrInvalid is matched by errors.Is on every refusal of Extract: a
// malformed archive, an entry it does not allow, or a limit passed. A
// failure of the reader the archive comes from (a dropped connection, a
// disk error, a cancel) is not ErrInvalid: it is returned wrapped, matching
// its cause, since reading the same archive again may work.
var ErrInvalid = errors.New("invalid archive")

// Write writes the regular files and folders under dir to w as a
// tar.gz, in lexical order, with relative slash-separated names, mode
// 0644/0755 and a zero time (so the same folder gives the same bytes).
// Symbolic links and other special files are skipped.
func Write(w io.Writer, dir string) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: time.Unix(0, 0)})
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: st.Size(), ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// The modes Extract creates files and folders with (before the umask):
// private to the user, no exec bit on files, whatever the archive says.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// Limits bound Extract; a zero field is its default.
type Limits struct {
	// MaxFiles caps the entries (0: 100000).
	MaxFiles int
	// MaxBytes caps the sum of the files' sizes once extracted (0: 16 GiB).
	MaxBytes int64
	// BeforeFile, when set, is called by Extract before it creates each
	// regular file, with the file's clean name and size, once the entry
	// passed every check and the limits: an error from it stops the
	// extraction and is returned wrapped, not as ErrInvalid. It lets a
	// caller check the space left as the extraction goes, in the one pass
	// over the archive (the sizes are only known by decompressing it).
	// Check and ReadFile ignore it.
	BeforeFile func(name string, size int64) error
}

// Extract reads a tar.gz from r into dir (created if needed; it should be
// empty). It refuses, with an error matching ErrInvalid, a malformed or
// truncated archive, entries other than regular files and folders, names
// that are absolute, contain ".." or repeat, names no file system takes
// (a component over 255 bytes, a name over 4095) or under an entry that
// is a regular file, and archives beyond lim. An
// error reading r (other than io.EOF) or writing dir (a full disk, say)
// is returned wrapped, matching its cause (errors.Is with syscall.ENOSPC)
// and not ErrInvalid. What was written before an error stays: extract
// into a fresh folder and remove it on error.
//
// What Extract creates is private to the process's user, whatever the
// archive's modes: files FileMode, folders DirMode (0600 and 0700: the
// agent's model bundles and the cloud's data sets are read by the
// process that extracts them, nobody else), never an exec bit.
func Extract(r io.Reader, dir string, lim Limits) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	src := &source{r: r}
	return walk(src, lim, func(h *tar.Header, clean string, body io.Reader) error {
		target := filepath.Join(dir, filepath.FromSlash(clean))
		if h.Typeflag == tar.TypeDir {
			return os.MkdirAll(target, DirMode)
		}
		if lim.BeforeFile != nil {
			if err := lim.BeforeFile(clean, h.Size); err != nil {
				return fmt.Errorf("extract %s: %w", h.Name, err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(target), DirMode); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
		if errors.Is(err, fs.ErrExist) {
			// A name the archive's entries clash on (a folder).
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", h.Name, err) // the disk (no inode left, say)
		}
		w := &writeErr{w: f}
		_, err = io.Copy(w, body)
		if cerr := f.Close(); err == nil {
			err = cerr
			w.err = cerr
		}
		switch {
		case w.err != nil:
			return fmt.Errorf("extract %s: %w", h.Name, w.err)
		case err != nil:
			return src.bad(h.Name, err)
		}
		return nil
	})
}

// source reads an archive from r and keeps the error r gave, if any
// (io.EOF aside): the gzip and tar readers hand it on as they do their own
// format errors, and bad tells them apart.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// bad returns the error for err, a failure of the gzip or tar reader
// (at entry name, if not ""): the source's read error, wrapped, when
// reading the source failed (not the archive's fault: reading it again may
// work); otherwise err as an invalid archive (a bad header or checksum, or
// io.ErrUnexpectedEOF: the archive ends early).
func (s *source) bad(name string, err error) error {
	if s.err != nil {
		if name != "" {
			return fmt.Errorf("read the archive at %s: %w", name, s.err)
		}
		return fmt.Errorf("read the archive: %w", s.err)
	}
	if name != "" {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// writeErr writes to w and keeps its error, telling Extract's write
// failures (the disk) from its read failures (the archive).
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// walk checks every entry of the archive in r and hands each to put (nil:
// the file's bytes are read and dropped).
func walk(src *source, lim Limits, put func(h *tar.Header, clean string, body io.Reader) error) error {
	if lim.MaxFiles <= 0 {
		lim.MaxFiles = 100_000
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 16 << 30
	}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return src.bad("", fmt.Errorf("not gzip: %w", err))
	}
	tr := tar.NewReader(zr)
	seen := map[string]byte{} // clean name -> type
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			// The tar stream ends before the gzip stream does: read the
			// rest so that the gzip reader checks its checksum and length.
			if _, err := io.Copy(io.Discard, zr); err != nil {
				return src.bad("", err)
			}
			return nil
		}
		if err != nil {
			return src.bad("", err)
		}
		if n >= lim.MaxFiles {
			return fmt.Errorf("%w: more than %d entries", ErrInvalid, lim.MaxFiles)
		}
		name := strings.TrimSuffix(h.Name, "/")
		clean := path.Clean(name)
		if name == "" || clean != name || path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\\") {
			return fmt.Errorf("%w: entry name %q is not a clean relative path", ErrInvalid, h.Name)
		}
		if err := extractable(clean, seen); err != nil {
			return fmt.Errorf("%w: entry %q %v", ErrInvalid, h.Name, err)
		}
		if _, ok := seen[clean]; ok {
			return fmt.Errorf("%w: entry %q appears twice", ErrInvalid, h.Name)
		}
		seen[clean] = h.Typeflag
		switch h.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			if h.Size < 0 || total+h.Size > lim.MaxBytes {
				return fmt.Errorf("%w: more than %d bytes once extracted", ErrInvalid, lim.MaxBytes)
			}
			total += h.Size
		default:
			return fmt.Errorf("%w: entry %q is not a regular file or folder (type %q)", ErrInvalid, h.Name, h.Typeflag)
		}
		if put != nil {
			if err := put(h, clean, tr); err != nil {
				return err
			}
		} else if _, err := io.Copy(io.Discard, tr); err != nil {
			return src.bad(h.Name, err)
		}
	}
}

// Linux file systems refuse a name component longer than nameMax bytes
// and a path longer than pathMax.
const (
	nameMax = 255
	pathMax = 4095
)

// extractable refuses a clean name no Linux file system can create, or
// one under an earlier entry that is a regular file (seen: the earlier
// entries' types): Extract would fail on it whatever the disk, so it is
// an invalid archive, and Check finds it before an upload is stored.
func extractable(clean string, seen map[string]byte) error {
	if len(clean) > pathMax {
		return fmt.Errorf("is a name of %d bytes, longer than the %d a file system takes", len(clean), pathMax)
	}
	for c := range strings.SplitSeq(clean, "/") {
		if len(c) > nameMax {
			return fmt.Errorf("has a name component of %d bytes, longer than the %d a file system takes", len(c), nameMax)
		}
	}
	for dir := path.Dir(clean); dir != "."; dir = path.Dir(dir) {
		if seen[dir] == tar.TypeReg {
			return fmt.Errorf("is under %q, a regular file", dir)
		}
	}
	return nil
}

// Check reads a tar.gz from r to its end and returns the refusal Extract
// would give, writing nothing: to check an archive while it streams
// elsewhere. An error reading r is returned wrapped, as by Extract.
func Check(r io.Reader, lim Limits) error {
	return walk(&source{r: r}, lim, nil)
}

// errFound stops ReadFile's walk at the file it looked for.
var errFound = errors.New("found")

// ReadFile returns the bytes of the regular file name (a clean,
// slash-separated relative name) in the tar.gz r, reading the archive
// only up to that entry and checking every entry before it as Extract
// does. A file larger than maxBytes is an error matching ErrInvalid; a
// file that is not there, one matching fs.ErrNotExist. A malformed
// archive matches ErrInvalid; an error reading r is returned wrapped, as
// by Extract.
func ReadFile(r io.Reader, name string, maxBytes int64) ([]byte, error) {
	var data []byte
	src := &source{r: r}
	err := walk(src, Limits{}, func(h *tar.Header, clean string, body io.Reader) error {
		if clean != name || h.Typeflag != tar.TypeReg {
			if _, err := io.Copy(io.Discard, body); err != nil {
				return src.bad(h.Name, err)
			}
			return nil
		}
		if h.Size > maxBytes {
			return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrInvalid, name, h.Size, maxBytes)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return src.bad(name, err)
		}
		data = b
		return errFound
	})
	switch {
	case errors.Is(err, errFound):
		return data, nil
	case err != nil:
		return nil, err
	}
	return nil, fmt.Errorf("%s: %w in the archive", name, fs.ErrNotExist)
}
