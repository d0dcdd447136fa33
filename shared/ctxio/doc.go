// Package ctxio stops reads with a context: Reader wraps an io.Reader so
// that a copy (io.Copy, a hash, an upload) ends with the context's error
// at its next Read once the context ends, rather than running to the end
// of a large file.
package ctxio
