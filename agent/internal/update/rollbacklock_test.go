package update

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestStatusAnswersDuringRollbackLoad: a failed explicit rollback goes to
// model.bundle_dir after loading it (bundle.Load hashes every model file:
// seconds on a rig's flash). That load ran with the Manager's lock held,
// so Status (/status, /metrics, check-ins) and Observe (every window)
// waited for it. Here model.bundle_dir's manifest is a named pipe the
// test writes only once Status and Observe have answered: the load holds
// still in between, as a slow flash would.
func TestStatusAnswersDuringRollbackLoad(t *testing.T) {
	f, a, _ := explicitRollback(t, "1.0.0")
	manifest := filepath.Join(f.factory, bundle.ManifestFile)
	orig, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(manifest, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	for range 4 {
		a.Observe(time.Millisecond, errors.New("infer: output not finite"))
	}
	cycled := make(chan error, 1)
	go func() { cycled <- a.Cycle(t.Context()) }()

	// The rollback opened the manifest for reading once a writer can open
	// it without blocking.
	var w *os.File
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if w, err = os.OpenFile(manifest, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			break
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			t.Fatalf("the rollback never loaded model.bundle_dir: %v", err)
		}
	}
	answered := make(chan struct{})
	go func() {
		_ = a.Status()
		a.Observe(time.Millisecond, nil)
		close(answered)
	}()
	var blocked bool
	select {
	case <-answered:
	case <-time.After(3 * time.Second):
		blocked = true
	}
	// Let the load go on, and put the manifest back as a file.
	if _, err := w.Write(orig); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := manifest + ".tmp"
	if err := os.WriteFile(tmp, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, manifest); err != nil {
		t.Fatal(err)
	}
	if err := <-cycled; !errors.Is(err, ErrWatchdog) {
		t.Fatalf("cycle: %v, want the watchdog's rollback", err)
	}
	<-answered
	if blocked {
		t.Error("Status and Observe waited for the rollback's load of model.bundle_dir")
	}
	if st := a.Status(); st.Installed.Version != "1.0.0" || a.Current() != f.factory || st.State != Idle {
		t.Errorf("after the rollback: serving %s (%s), state %s; want model.bundle_dir (1.0.0)", a.Current(), st.Installed.Version, st.State)
	}
}
