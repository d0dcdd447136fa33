// Package testpki makes throwaway certificates for tests: a CA (ECDSA
// P-256), a server certificate for 127.0.0.1, ::1 and localhost, and
// client certificates, as PEM files in a test's temporary directory and
// as parsed values. It is the one writer of test certificates for the
// agent, cloud and tools modules. Import it from _test.go files or
// test-helper packages only, never from production code.
package testpki
