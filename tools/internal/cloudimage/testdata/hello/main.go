// Command hello is the tiny static program the tests put in an image: it
// prints its arguments, so a test can run it after taking it out of a layer.
package main

import "os"

func main() {
	os.Stdout.WriteString("hello from the image")
	for _, a := range os.Args[1:] {
		os.Stdout.WriteString(" " + a)
	}
	os.Stdout.WriteString("\n")
}
