// Command rigctl (being built).
package main

import "fmt"

var version = "dev"

func main() { fmt.Println("rigctl", version) }
