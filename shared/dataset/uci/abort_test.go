package uci_test

import (
	"errors"
	"os"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
)

// A Writer aborted before Close wrote nothing, so Close must say so
// rather than return nil as if the set were in place.
func TestWriterCloseAfterAbort(t *testing.T) {
	for _, appended := range []bool{false, true} {
		dir := t.TempDir()
		w, err := uci.NewWriter(dir, []string{"A"}, true, true)
		if err != nil {
			t.Fatal(err)
		}
		if appended {
			if err := w.Append([][]float64{{1, 2}}, []float64{3}, 1); err != nil {
				t.Fatal(err)
			}
		}
		w.Abort()
		w.Abort() // twice: still aborted
		if err := w.Close(); !errors.Is(err, uci.ErrAborted) {
			t.Errorf("appended %v: Close after Abort = %v, want ErrAborted", appended, err)
		}
		if err := w.Close(); !errors.Is(err, uci.ErrAborted) {
			t.Errorf("appended %v: second Close after Abort = %v, want ErrAborted", appended, err)
		}
		if err := w.Append([][]float64{{1, 2}}, []float64{3}, 2); !errors.Is(err, uci.ErrAborted) {
			t.Errorf("appended %v: Append after Abort = %v, want ErrAborted", appended, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("appended %v: %d files left after Abort", appended, len(ents))
		}
	}

	// An error that came first stays the one returned.
	dir := t.TempDir()
	w, err := uci.NewWriter(dir, []string{"A"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // no-op after a successful Close
	if err := w.Close(); err != nil {
		t.Errorf("Close after Close and Abort = %v, want nil", err)
	}
}
