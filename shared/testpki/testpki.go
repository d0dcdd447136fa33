package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a throwaway certificate authority whose files lie in Dir.
type CA struct {
	// Dir holds every file written.
	Dir string
	// File is the CA certificate (PEM); Pool holds it.
	File string
	Pool *x509.CertPool

	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial atomic.Int64
	tb     testing.TB
}

// Pair is a certificate and its key, as files and as a tls.Certificate.
type Pair struct {
	CertFile, KeyFile string
	TLS               tls.Certificate
}

// New makes a CA named name (its common name) with its certificate in a
// new temporary directory. Failures end the test.
func New(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(tb, err)
	cert, err := x509.ParseCertificate(der)
	check(tb, err)
	ca := &CA{Dir: tb.TempDir(), Pool: x509.NewCertPool(), cert: cert, key: key, tb: tb}
	ca.Pool.AddCert(cert)
	ca.serial.Store(1)
	ca.File = filepath.Join(ca.Dir, "ca.pem")
	check(tb, os.WriteFile(ca.File, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return ca
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost,
// written as name.pem and name.key.
func (ca *CA) Server(name string) Pair {
	ca.tb.Helper()
	return ca.issue(name, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		c.DNSNames = []string{"localhost"}
	})
}

// Client issues a client certificate with common name name, written as
// name.pem and name.key.
func (ca *CA) Client(name string) Pair {
	ca.tb.Helper()
	return ca.issue(name, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
}

func (ca *CA) issue(name string, edit func(*x509.Certificate)) Pair {
	tb := ca.tb
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	check(tb, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	check(tb, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	p := Pair{CertFile: filepath.Join(ca.Dir, name+".pem"), KeyFile: filepath.Join(ca.Dir, name+".key")}
	check(tb, os.WriteFile(p.CertFile, certPEM, 0o644))
	check(tb, os.WriteFile(p.KeyFile, keyPEM, 0o600))
	p.TLS, err = tls.X509KeyPair(certPEM, keyPEM)
	check(tb, err)
	return p
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(tb, err)
	return key
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("testpki: %v", err)
	}
}
