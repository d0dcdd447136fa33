package buffer

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	envKillPath = "BUFFER_KILL_CHILD_PATH"
	envKillBase = "BUFFER_KILL_CHILD_BASE"
)

// TestKill9 runs a child process (this test binary, re-executed into
// TestKill9Child) that appends under load from several goroutines,
// compacts now and then, moves a consumer cursor, and reports every
// acknowledged batch and cursor to the parent through a pipe. The parent kills it with SIGKILL at a random
// moment, reopens the file (with the full integrity check) and requires
// every acknowledged reading to be there, intact, with sequence numbers
// that only grow. Several rounds run on the same file, so later children
// also start from a file a kill left behind.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	path := filepath.Join(t.TempDir(), "buf.db")
	rounds := 6
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	acked := map[uint64]bool{} // publisher seq -> acknowledged
	var lastSeq uint64
	for round := range rounds {
		base := uint64(round) * 100_000_000
		r, w, err := os.Pipe()
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
		cmd.Env = append(os.Environ(), envKillPath+"="+path, envKillBase+"="+strconv.FormatUint(base, 10))
		cmd.ExtraFiles = []*os.File{w}
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		require.NoError(t, cmd.Start())
		w.Close()
		var (
			mu     sync.Mutex
			acks   [][2]uint64
			readWG sync.WaitGroup
		)
		readWG.Go(func() {
			var rec [16]byte
			for {
				if _, err := io.ReadFull(r, rec[:]); err != nil {
					return
				}
				mu.Lock()
				acks = append(acks, [2]uint64{binary.LittleEndian.Uint64(rec[:]), binary.LittleEndian.Uint64(rec[8:])})
				mu.Unlock()
			}
		})
		// Let it get going, then kill at a random moment.
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := len(acks)
			mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		readWG.Wait()
		r.Close()
		require.NotEmpty(t, acks, "round %d: the child acknowledged nothing", round)
		n, batches := 0, 0
		var cursor uint64
		for _, a := range acks {
			if a[1] == 0 {
				cursor = max(cursor, a[0])
				continue
			}
			batches++
			for i := range a[1] {
				acked[a[0]+i] = true
				n++
			}
		}

		b, err := Open(context.Background(), path, Options{Logger: slog.New(slog.DiscardHandler), CompactFreeRatio: -1})
		require.NoError(t, err, "round %d: the file a kill left must open cleanly", round)
		found := map[uint64]bool{}
		prev := uint64(0)
		require.NoError(t, b.Scan(context.Background(), 0, func(rec Record) error {
			if rec.Seq <= prev {
				return fmt.Errorf("seq %d after %d", rec.Seq, prev)
			}
			prev = rec.Seq
			want := testReading(rec.Reading.Seq)
			if rec.Reading != want {
				return fmt.Errorf("seq %d: got %+v, want %+v", rec.Seq, rec.Reading, want)
			}
			if rec.Reading.Seq >= base && rec.Seq <= lastSeq {
				return fmt.Errorf("seq %d of this round is not above the previous round's last %d", rec.Seq, lastSeq)
			}
			found[rec.Reading.Seq] = true
			return nil
		}))
		missing := 0
		for s := range acked {
			if !found[s] {
				missing++
			}
		}
		assert.Zero(t, missing, "round %d: acknowledged readings missing", round)
		assert.GreaterOrEqual(t, b.Cursor("forward"), cursor, "round %d: an acknowledged cursor went back", round)
		lastSeq = b.LastSeq()
		require.NoError(t, b.Close())
		t.Logf("round %d: %d readings acknowledged in %d batches, %d stored in total, last seq %d", round, n, batches, len(found), lastSeq)
	}
}

// TestKill9Child is the child of TestKill9; it does nothing otherwise.
func TestKill9Child(t *testing.T) {
	path := os.Getenv(envKillPath)
	if path == "" {
		t.Skip("child process of TestKill9")
	}
	base, err := strconv.ParseUint(os.Getenv(envKillBase), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	acks := os.NewFile(3, "acks")
	ctx := context.Background()
	b, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler), CompactFreeRatio: -1, BlockReadings: 64})
	if err != nil {
		t.Fatal(err)
	}
	var next atomic.Uint64
	next.Store(base)
	var mu sync.Mutex
	stop := time.Now().Add(30 * time.Second) // the parent kills long before
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				const n = 50
				first := next.Add(n) - n
				if err := b.Append(ctx, testReadings(first, n)); err != nil {
					panic(err)
				}
				var rec [16]byte
				binary.LittleEndian.PutUint64(rec[:], first)
				binary.LittleEndian.PutUint64(rec[8:], n)
				mu.Lock()
				_, err := acks.Write(rec[:])
				mu.Unlock()
				if err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(stop) {
			time.Sleep(40 * time.Millisecond)
			if err := b.Compact(ctx); err != nil {
				panic(err)
			}
		}
	})
	wg.Go(func() { // a consumer moving its cursor; acknowledged as (cursor, 0)
		for time.Now().Before(stop) {
			time.Sleep(5 * time.Millisecond)
			seq := b.LastSeq()
			if err := b.SetCursor(ctx, "forward", seq); err != nil {
				panic(err)
			}
			var rec [16]byte
			binary.LittleEndian.PutUint64(rec[:], seq)
			mu.Lock()
			_, err := acks.Write(rec[:])
			mu.Unlock()
			if err != nil {
				panic(err)
			}
		}
	})
	wg.Wait()
}
