// Command rigsim (being built).
package main

import "fmt"

var version = "dev"

func main() { fmt.Println("rigsim", version) }
