// Package testpki makes throwaway certificates for tests: a CA (ECDSA
// P-256), a server certificate for 127.0.0.1 and localhost, and client
// certificates, as PEM files in a test's temporary directory and as
// parsed values. Import it from _test.go files only.
package testpki
