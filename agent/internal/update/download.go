package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// partPath is the part file of the archive with the given sha256 (hex):
// a partial download can only ever be resumed into the same signed bytes.
func (m *Manager) partPath(sha string) string {
	return filepath.Join(m.opts.Dir, "download", sha+".part")
}

// download fetches t into its part file, resuming from the bytes already
// there with an HTTP Range request, and never reading more than t.Length
// bytes in all. It returns how much the part file grew (added): bytes
// written over ones it already held, when a server ignores Range and sends
// the file from byte 0 again, are no progress. A server that sends
// more than t.Length is refused with ErrTooLong (the part file is
// removed); a response that ends early leaves the part file for the next
// call and returns ErrTruncated. With Options.Budget it reads no more
// than the budget has left and returns ErrBudget when that stops it short;
// the bytes received are spent as they arrive (spendBatch at a time), so
// that other traffic sees them and they count for the UTC day in which
// they came, and the download also stops with ErrBudget when other
// traffic used up the day's budget meanwhile. A write refused for want of
// space (ENOSPC, EDQUOT) returns ErrDiskFull, the part file cut back to
// what it held before the call (the disk is shared with the reading
// buffer).
func (m *Manager) download(ctx context.Context, t *Target, url string) (added int64, err error) {
	p := m.partPath(t.SHA256)
	// A full disk, here or syncing the part file: ErrDiskFull, whatever
	// the check before the download found.
	defer func() { err = asDiskFull(err, "download "+t.Path) }()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer func() {
		if serr := f.Sync(); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if off > t.Length {
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		off, _ = f.Seek(0, io.SeekStart)
	}
	if off == t.Length {
		return 0, nil
	}
	held := off                  // what the part file holds before this call
	keep := off                  // what a full disk leaves in it
	left := int64(math.MaxInt64) // the day's budget
	if b := m.opts.Budget; b != nil {
		if left = b.Left(); left <= 0 {
			return 0, fmt.Errorf("%w: %s: %d of %d bytes received, resumed when the budget allows", ErrBudget, t.Path, off, t.Length)
		}
	}
	want := t.Length - off
	read := min(want, left) // what this call may read
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	switch {
	case read < want:
		// Only what the budget allows: no bytes on the wire beyond it.
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+read-1, 10))
	case off > 0:
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	res, err := m.do(req)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", t.Path, err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		// A whole file (no or ignored Range): start over.
		if off > 0 {
			if err := f.Truncate(0); err != nil {
				return 0, err
			}
			if off, err = f.Seek(0, io.SeekStart); err != nil {
				return 0, err
			}
			// Nothing of the old bytes is left to keep: giving back to
			// held would pad the part file with zeros.
			keep = 0
			want, read = t.Length, min(t.Length, left)
		}
	case http.StatusPartialContent:
		start, ok := rangeStart(res.Header.Get("Content-Range"))
		if !ok || start != off {
			return 0, fmt.Errorf("download %s: asked for bytes from %d, got Content-Range %q", t.Path, off, res.Header.Get("Content-Range"))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The server's file is shorter than what we hold.
		_ = f.Truncate(0)
		return 0, fmt.Errorf("%w: %s: the server has fewer than the %d bytes already received (HTTP 416)", ErrTruncated, t.Path, off)
	default:
		return 0, fmt.Errorf("download %s: HTTP %s", t.Path, res.Status)
	}
	if res.ContentLength > want {
		_ = f.Truncate(0)
		return 0, fmt.Errorf("%w: %s: the server announces %d bytes from offset %d, the target is %d bytes", ErrTooLong, t.Path, res.ContentLength, off, t.Length)
	}
	body := &spender{r: res.Body, b: m.opts.Budget, left: read}
	defer body.flush()
	n, err := io.Copy(f, body)
	added = max(off+n-held, 0)
	if err != nil && noSpace(err) {
		// Not a cut download: the disk (ErrDiskFull, no attempt counted).
		// What this call wrote is given back, so that the reading buffer
		// sharing the disk has room again now, not at the next check.
		if terr := f.Truncate(keep); terr != nil {
			m.log.Warn("update: give back a part file's bytes", "file", p, "err", terr)
		}
		return 0, fmt.Errorf("%w: download %s: %d of %d bytes written, %d kept: %w (update.dir's file system filled up meanwhile); tried again at the next check",
			ErrDiskFull, t.Path, off+n, t.Length, keep, err)
	}
	if err != nil {
		if errors.Is(err, errSpent) {
			return added, fmt.Errorf("%w: %s: %d of %d bytes received, resumed when the budget allows", ErrBudget, t.Path, off+n, t.Length)
		}
		if isCtx(ctx, err) {
			return added, ctx.Err()
		}
		return added, fmt.Errorf("%w: %s: %d of %d bytes, resumed next time: %w", ErrTruncated, t.Path, off+n, t.Length, err)
	}
	if n < read {
		return added, fmt.Errorf("%w: %s: the server sent %d of %d bytes", ErrTruncated, t.Path, off+n, t.Length)
	}
	if read < want {
		return added, fmt.Errorf("%w: %s: %d of %d bytes received, resumed when the budget allows", ErrBudget, t.Path, off+n, t.Length)
	}
	// Exactly t.Length bytes read: anything more is an attack or a broken
	// server, and the archive is not trusted either way.
	var one [1]byte
	if k, _ := io.ReadFull(res.Body, one[:]); k > 0 {
		body.pending += int64(k) // received all the same
		_ = f.Truncate(0)
		return added, fmt.Errorf("%w: %s: the server sent more than the signed %d bytes", ErrTooLong, t.Path, t.Length)
	}
	return added, nil
}

// rangeStart parses "bytes START-END/TOTAL".
func rangeStart(cr string) (int64, bool) {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	return n, err == nil
}

// spendBatch is how many received bytes a download gathers before it
// spends them: the budget's Spend and Left take the forwarder's lock, and
// a body arrives a few KiB per Read.
const spendBatch = 16 << 10

// errSpent stops a download whose day budget other traffic used up while
// it ran.
var errSpent = errors.New("day byte budget used up during the download")

// spender reads at most left bytes of r and spends them on b (nil: no
// budget) as they arrive, spendBatch at a time; flush spends the rest.
// After each batch it asks the budget again, and stops with errSpent when
// it has nothing left while more bytes are still to come.
type spender struct {
	r       io.Reader
	b       Budget
	left    int64 // bytes still to read
	pending int64 // bytes read and not yet spent
}

func (s *spender) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	s.pending += int64(n)
	if s.b != nil && s.pending >= spendBatch {
		s.flush()
		if s.left > 0 && err == nil && s.b.Left() <= 0 {
			return n, errSpent
		}
	}
	return n, err
}

func (s *spender) flush() {
	if s.b != nil && s.pending > 0 {
		s.b.Spend(s.pending)
	}
	s.pending = 0
}
