package skab_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset/skab"
)

// bigCSV is a valid SKAB file of rows rows.
func bigCSV(rows int) string {
	var b strings.Builder
	b.WriteString("datetime;" + strings.Join(skab.Columns, ";") + ";anomaly;changepoint\n")
	for r := range rows {
		fmt.Fprintf(&b, "2020-03-09 10:%02d:%02d;0.02;0.04;1.3;0.05;79.3;26.0;233.0;32.0;0.0;0.0\n", (r/60)%60, r%60)
	}
	return b.String()
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// A cancel while a large file is parsed ends ParseContext within
// CtxRows lines, with ctx's error naming the file and line, not after
// the whole file was read.
func TestParseContextStopsWithinCtxRows(t *testing.T) {
	const rows = 20 * skab.CtxRows
	csv := bigCSV(rows)
	f, err := skab.Parse(strings.NewReader(csv), "big.csv")
	if err != nil || len(f.Times) != rows {
		t.Fatalf("uncancelled: %v, %d rows", err, len(f.Times))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: strings.NewReader(csv), n: 64 << 10, cancel: cancel}
	_, err = skab.ParseContext(ctx, r, "big.csv")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "big.csv line ") {
		t.Errorf("err %q does not name the file and line", err)
	}
	if r.n < -(256 << 10) {
		t.Errorf("read %d bytes past the cancel (a scanner buffer and %d lines at most)", -r.n, skab.CtxRows)
	}
}

// ReadContext with an ended context reads nothing.
func TestReadContextEnded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(p, []byte(bigCSV(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := skab.ReadContext(ctx, p); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err %v, want context.Canceled naming %s", err, p)
	}
	if f, err := skab.ReadContext(context.Background(), p); err != nil || len(f.Times) != 3 {
		t.Fatalf("%v, %v", f, err)
	}
}
