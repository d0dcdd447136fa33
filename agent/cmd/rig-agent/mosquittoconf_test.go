package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/syncbuf"
	"github.com/hydrognn/hydrognn/shared/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deploy/mosquitto/mosquitto.conf, installed as Debian's README says
// (/etc/mosquitto/conf.d/hydrognn.conf), starts Mosquitto: Debian's own
// main file sets pid_file, persistence and persistence_location and
// includes conf.d, and Mosquitto refuses a second value of a string
// option. Mosquitto has no config test mode: the broker must start, accept
// a connection on the listener and still run a second later.
func TestMosquittoConfDebian(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			testenv.Missing(t, testenv.Mosquitto, "mosquitto is not installed (Debian: apt-get install mosquitto)")
			return
		}
		bin = "/usr/sbin/mosquitto"
	}
	// Under /tmp, not t.TempDir() (0700 parents): as root Mosquitto drops
	// to the user mosquitto, which writes the pid file, log and
	// persistence there.
	dir, err := os.MkdirTemp("", "hydrognn-mosquitto-conf-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	data := filepath.Join(dir, "data")
	require.NoError(t, os.Mkdir(data, 0o777))
	require.NoError(t, os.Chmod(data, 0o777))
	confD := filepath.Join(dir, "conf.d")
	require.NoError(t, os.Mkdir(confD, 0o755))

	// Debian 12's /etc/mosquitto/mosquitto.conf (mosquitto 2.0.11), its
	// paths moved into dir.
	main := filepath.Join(dir, "mosquitto.conf")
	require.NoError(t, os.WriteFile(main, fmt.Appendf(nil, `# Place your local configuration in /etc/mosquitto/conf.d/
pid_file %s/mosquitto.pid

persistence true
persistence_location %s/

log_dest file %s/mosquitto.log

include_dir %s
`, dir, data, dir, confD), 0o644))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	require.NoError(t, l.Close())
	ours, err := os.ReadFile(deployDir + "/mosquitto/mosquitto.conf")
	require.NoError(t, err)
	listener := regexp.MustCompile(`(?m)^listener 1883 127\.0\.0\.1$`)
	require.Len(t, listener.FindAllIndex(ours, -1), 1, "one loopback listener on 1883")
	ours = listener.ReplaceAll(ours, []byte("listener "+port+" 127.0.0.1"))
	require.NoError(t, os.WriteFile(filepath.Join(confD, "hydrognn.conf"), ours, 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", main)
	// The copier goroutines of exec write while logs() reads.
	var output syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
		return output.String() + string(b)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("mosquitto -c %s exited (%v):\n%s", main, err, logs())
		case <-time.After(50 * time.Millisecond):
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "mosquitto does not listen on %s: %v\n%s", addr, err, logs())
	}
	select {
	case err := <-exited:
		t.Fatalf("mosquitto -c %s exited (%v):\n%s", main, err, logs())
	case <-time.After(time.Second):
	}
	cancel()
	err = <-exited
	var ee *exec.ExitError
	assert.True(t, err == nil || errors.As(err, &ee), "%v", err)
}
