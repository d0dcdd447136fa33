package update

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestVerifyAndStageStreams stages a release whose archive is 8 MiB (an
// incompressible model file): verifyAndStage hashes the part file as it
// streams and extracts it from the file, so what it allocates stays well
// below the archive's size (reading the archive into memory to hash it
// allocated all of it), and the bundle is staged as before.
func TestVerifyAndStageStreams(t *testing.T) {
	const size = 8 << 20
	f := newFixture(t, "1.0.0")
	dir := testBundle(t, "1.1.0", nil)
	model := make([]byte, size)
	_, _ = rand.Read(model)
	mf, err := os.Open(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	man, err := bundle.Decode(mf)
	mf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, man.Models[0].File), model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bundle.FillModel(dir, &man.Models[0]); err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(dir, man); err != nil {
		t.Fatal(err)
	}
	rel, tf, err := f.repo.AddBundle(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tf.Length < size {
		t.Fatalf("the archive is %d bytes, want at least %d", tf.Length, size)
	}
	a := f.open(nil)
	tgt := f.downloaded(a, rel, tf)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	staged, err := a.verifyAndStage(context.Background(), tgt, tf)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("verifyAndStage allocated %d bytes for a %d-byte archive", alloc, tf.Length)
	if alloc > size/4 {
		t.Errorf("verifyAndStage allocated %d bytes for a %d-byte archive, want at most %d (the archive is not read into memory)",
			alloc, tf.Length, size/4)
	}
	got, err := os.ReadFile(filepath.Join(staged, man.Models[0].File))
	if err != nil || string(got) != string(model) {
		t.Errorf("staged model file: %d bytes, %v", len(got), err)
	}
	if _, err := bundle.Load(staged); err != nil {
		t.Error(err)
	}
}

// TestVerifyTargetAsGoTUF: verifyTarget, hashing a stream, accepts and
// refuses what go-tuf's VerifyLengthHashes does over the same bytes, with
// the same error type.
func TestVerifyTargetAsGoTUF(t *testing.T) {
	data := []byte(strings.Repeat("an archive ", 10000))
	good := func() *metadata.TargetFiles {
		tf, err := metadata.TargetFile().FromBytes("x.tar.gz", data, "sha256", "sha512")
		if err != nil {
			t.Fatal(err)
		}
		return tf
	}
	s512 := sha512.Sum512(data)
	for name, edit := range map[string]func(*metadata.TargetFiles){
		"good":         func(*metadata.TargetFiles) {},
		"sha256 only":  func(tf *metadata.TargetFiles) { delete(tf.Hashes, "sha512") },
		"sha512 only":  func(tf *metadata.TargetFiles) { delete(tf.Hashes, "sha256"); tf.Hashes["sha512"] = s512[:] },
		"bad sha256":   func(tf *metadata.TargetFiles) { tf.Hashes["sha256"][0] ^= 1 },
		"bad sha512":   func(tf *metadata.TargetFiles) { tf.Hashes["sha512"][5] ^= 1 },
		"long":         func(tf *metadata.TargetFiles) { tf.Length++ },
		"short":        func(tf *metadata.TargetFiles) { tf.Length-- },
		"no hashes":    func(tf *metadata.TargetFiles) { tf.Hashes = metadata.Hashes{} },
		"unknown hash": func(tf *metadata.TargetFiles) { tf.Hashes["md5"] = []byte{1, 2} },
	} {
		tf := good()
		edit(tf)
		want := tf.VerifyLengthHashes(data)
		got := verifyTarget(strings.NewReader(string(data)), tf)
		if (want == nil) != (got == nil) || (want != nil && !errors.As(got, new(*metadata.ErrLengthOrHashMismatch))) {
			t.Errorf("%s: %v, go-tuf says %v", name, got, want)
		}
	}
}
