package childproc

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDieWithParent runs this test binary as a parent that starts a
// sleeping child with DieWithParent and is then killed: the child must go.
func TestDieWithParent(t *testing.T) {
	switch os.Getenv("CHILDPROC_ROLE") {
	case "parent":
		child := exec.Command("sleep", "60")
		DieWithParent(child)
		if err := child.Start(); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString(strconv.Itoa(child.Process.Pid) + "\n")
		time.Sleep(time.Minute)
		return
	case "":
	default:
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("DieWithParent does nothing on " + runtime.GOOS)
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep command")
	}
	parent := exec.Command(os.Args[0], "-test.run", "^TestDieWithParent$")
	parent.Env = append(os.Environ(), "CHILDPROC_ROLE=parent")
	out, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	buf := make([]byte, 32)
	n, err := out.Read(buf)
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(buf[:n-1]))
	require.NoError(t, err, "parent said %q", buf[:n])
	require.NoError(t, syscall.Kill(pid, 0), "the child runs")
	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()
	require.Eventually(t, func() bool {
		// Gone, or a zombie waiting for init to reap it.
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || containsState(string(b), 'Z')
	}, 5*time.Second, 20*time.Millisecond, "child %d outlived its killed parent", pid)
}

// containsState reports whether a /proc/PID/stat line has state s.
func containsState(stat string, s byte) bool {
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2] == s
		}
	}
	return false
}
