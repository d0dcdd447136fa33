package broker

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// agentTLS prepares a TLS listener's config and the config of the
// agent's own clients (Broker.ClientTLS) from Options.TLS:
//
//   - the listener's is a clone raised to TLS 1.2 at least;
//   - the agent's clients accept exactly the broker's own certificate
//     (the first of server.Certificates; pinned: the listen address, such
//     as 0.0.0.0, need not be a name in the certificate);
//   - when the listener asks for client certificates, the agent's clients
//     present one made here, self-signed with a key that never leaves the
//     process, which the listener's ClientCAs (cloned) trust as well: the
//     configured client CA need not sign a certificate for the agent.
func agentTLS(server *tls.Config) (srv, client *tls.Config, err error) {
	if len(server.Certificates) == 0 || len(server.Certificates[0].Certificate) == 0 {
		return nil, nil, fmt.Errorf("%w: TLS has no Certificates (GetCertificate alone is not supported: the agent's own clients pin the broker's certificate)", ErrOptions)
	}
	if server.ClientAuth >= tls.VerifyClientCertIfGiven && server.ClientCAs == nil {
		return nil, nil, fmt.Errorf("%w: TLS verifies client certificates (ClientAuth %s) but has no ClientCAs", ErrOptions, server.ClientAuth)
	}
	leaf := server.Certificates[0].Certificate[0]
	srv = server.Clone()
	srv.MinVersion = max(srv.MinVersion, tls.VersionTLS12)
	client = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified by VerifyConnection instead: the certificate must be
		// the broker's own, byte for byte.
		InsecureSkipVerify: true, //nolint:gosec // pinned in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("embedded broker: the server's certificate is not the broker's own")
			}
			return nil
		},
	}
	if server.ClientAuth == tls.NoClientCert {
		return srv, client, nil
	}
	cert, parsed, err := selfSigned()
	if err != nil {
		return nil, nil, fmt.Errorf("embedded broker: the agent's client certificate: %w", err)
	}
	client.Certificates = []tls.Certificate{cert}
	if srv.ClientCAs != nil {
		srv.ClientCAs = srv.ClientCAs.Clone()
		// Verification accepts a certificate that is itself in the pool.
		srv.ClientCAs.AddCert(parsed)
	}
	return srv, client, nil
}

// selfSigned makes the client certificate of the agent's own clients: an
// ECDSA P-256 key and a self-signed certificate for client
// authentication, valid for 100 years (it lives as long as the process).
func selfSigned() (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial,
		Subject:   pkix.Name{CommonName: "hydrognn rig-agent embedded broker client " + serial.Text(16)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(100, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, parsed, nil
}
