// Command staller is a test codec plugin that completes go-plugin's
// handshake and then never answers: it accepts connections on its socket
// and reads nothing. It writes its pid to staller.pid next to its
// executable.
package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
)

func main() {
	dir, err := os.MkdirTemp("", "staller-")
	if err != nil {
		os.Exit(1)
	}
	sock := filepath.Join(dir, "plugin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	exe, _ := os.Executable()
	_ = os.WriteFile(filepath.Join(filepath.Dir(exe), "staller.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	fmt.Printf("%d|%d|unix|%s|netrpc\n", goplugin.CoreProtocolVersion, plugin.Handshake.ProtocolVersion, sock)
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		held = append(held, c) // kept open, never read
	}
}

var held []net.Conn
