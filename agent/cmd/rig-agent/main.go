// Command rig-agent is a placeholder until its issue lands; it only reports its
// version so that the build, packaging and deployment files can be wired.
package main

import (
	"flag"
	"fmt"
	"os"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("rig-agent", version)
		return
	}
	fmt.Fprintln(os.Stderr, "rig-agent: not implemented yet (see the project's open issues)")
	os.Exit(2)
}
