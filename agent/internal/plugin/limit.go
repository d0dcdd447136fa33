package plugin

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"sync/atomic"

	"github.com/hydrognn/hydrognn/shared/codec"
)

// MaxReplyBytes caps what the host reads from a plugin for one reply (the
// net/rpc response header and the gob-encoded Reply together): room for
// codec.MaxReadings readings with sensor ids of codec.MaxSensorLen bytes,
// plus 64 KiB for the header, the error text and gob's type
// descriptions (about 20 MiB). A plugin whose reply is longer is killed
// mid-reply, counted (Stats.TooLarge) and restarted, and the call fails
// with ErrFailed: the host never buffers or decodes more than this.
const MaxReplyBytes = codec.MaxReadings*(codec.MaxSensorLen+maxReadingOverhead) + 64<<10

// maxReadingOverhead bounds the gob encoding of one reading.Reading
// besides its sensor id's bytes: field deltas, the id's length, the time
// (a GobEncoder: a length and 15 or 16 bytes), the value, seq, quality
// and the end of the struct add up to less than 64 bytes.
const maxReadingOverhead = 64

// errReplyTooLarge is what a limitCodec's reader returns past its limit.
var errReplyTooLarge = errors.New("codec plugin reply too large")

// limitCodec is net/rpc's gob client codec (the one go-plugin's net/rpc
// transport uses, so the wire format is unchanged) with a cap on the bytes
// read for each response. net/rpc reads responses one at a time, header
// then body, so the count restarts at each header.
type limitCodec struct {
	rwc    io.ReadWriteCloser
	lr     *limitReader
	dec    *gob.Decoder
	enc    *gob.Encoder
	encBuf *bufio.Writer
	// exceeded is set once a response went over the limit: the connection
	// is then unusable (net/rpc shuts the client down).
	exceeded atomic.Bool
}

func newLimitCodec(rwc io.ReadWriteCloser, limit int64) *limitCodec {
	encBuf := bufio.NewWriter(rwc)
	lc := &limitCodec{rwc: rwc, encBuf: encBuf, enc: gob.NewEncoder(encBuf)}
	lc.lr = &limitReader{r: bufio.NewReader(rwc), left: limit, limit: limit, exceeded: &lc.exceeded}
	lc.dec = gob.NewDecoder(lc.lr) // lr is an io.ByteReader: gob adds no read-ahead of its own
	return lc
}

func (c *limitCodec) WriteRequest(r *rpc.Request, body any) (err error) {
	if err = c.enc.Encode(r); err != nil {
		return err
	}
	if err = c.enc.Encode(body); err != nil {
		return err
	}
	return c.encBuf.Flush()
}

func (c *limitCodec) ReadResponseHeader(r *rpc.Response) error {
	c.lr.left = c.lr.limit
	return c.dec.Decode(r)
}

func (c *limitCodec) ReadResponseBody(body any) error {
	return c.dec.Decode(body)
}

func (c *limitCodec) Close() error {
	return c.rwc.Close()
}

// limitReader reads from r until left bytes are used up, then fails with
// errReplyTooLarge.
type limitReader struct {
	r           *bufio.Reader
	left, limit int64
	exceeded    *atomic.Bool
}

func (l *limitReader) over() error {
	l.exceeded.Store(true)
	return fmt.Errorf("%w: more than %d bytes", errReplyTooLarge, l.limit)
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, l.over()
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitReader) ReadByte() (byte, error) {
	if l.left <= 0 {
		return 0, l.over()
	}
	b, err := l.r.ReadByte()
	if err == nil {
		l.left--
	}
	return b, err
}
