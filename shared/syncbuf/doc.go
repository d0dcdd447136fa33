// Package syncbuf provides Buffer, a bytes.Buffer that is safe for
// concurrent use: a log destination that a test reads while loggers and
// servers write to it from their own goroutines.
package syncbuf
