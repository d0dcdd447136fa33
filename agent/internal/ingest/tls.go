package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of a TLS client configuration.
type TLSFiles struct {
	// CAFile holds the CA certificates that sign the broker's certificate
	// (empty: the system roots).
	CAFile string
	// CertFile and KeyFile hold the agent's client certificate and key,
	// for brokers that require client certificates (both or neither).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the broker's certificate
	// (empty: the host of the broker URL).
	ServerName string
}

// TLSConfig loads files into a *tls.Config for Options.TLS (TLS 1.2 or
// later). Errors name the file and what is wrong with it.
func TLSConfig(files TLSFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: files.ServerName}
	if files.CAFile != "" {
		pem, err := os.ReadFile(files.CAFile)
		if err != nil {
			return nil, fmt.Errorf("broker CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker CA file %s: no PEM certificate in it", files.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case files.CertFile != "" && files.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %w", files.CertFile, files.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case files.CertFile != "" || files.KeyFile != "":
		return nil, errors.New("client certificate: give both the certificate file and the key file, or neither")
	}
	return c, nil
}
