package tlsx

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash"
	"os"

	"github.com/switchd/switchd/internal/config"
)

// UpstreamConfig returns the client TLS configuration for a service's
// https:// upstreams — the system roots, or only u.CAFile's certificates
// when it is set; the client certificate of u.CertFile and u.KeyFile, if
// any; u.ServerName as SNI and verification name, if set — and a key that
// changes when the settings or the contents of those files do, computed
// from the very bytes the configuration was built from. The proxy's
// transports and the health checks both rebuild when the key changes, so
// a reload that rotates a CA or a client certificate reaches both.
func UpstreamConfig(u config.UpstreamTLS) (*tls.Config, string, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: u.InsecureSkipVerify, ServerName: u.ServerName} //nolint:gosec // operator's explicit choice
	sum := sha256.New()
	fmt.Fprintf(sum, "%t\x00%s\x00%s\x00%s\x00%s\x00", u.InsecureSkipVerify, u.ServerName, u.CAFile, u.CertFile, u.KeyFile)
	if u.CAFile != "" {
		pem, err := readInto(sum, u.CAFile)
		if err != nil {
			return nil, "", fmt.Errorf("upstream_tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("upstream_tls.ca_file: %q holds no PEM certificate", u.CAFile)
		}
		c.RootCAs = pool
	}
	if u.CertFile != "" || u.KeyFile != "" {
		certPEM, err := readInto(sum, u.CertFile)
		if err != nil {
			return nil, "", fmt.Errorf("upstream_tls.cert_file: %w", err)
		}
		keyPEM, err := readInto(sum, u.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("upstream_tls.key_file: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, "", fmt.Errorf("upstream_tls.cert_file %q, key_file %q: %w", u.CertFile, u.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, hex.EncodeToString(sum.Sum(nil)[:12]), nil
}

// readInto reads file and adds its bytes to h.
func readInto(h hash.Hash, file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	h.Write(data)
	h.Write([]byte{0})
	return data, nil
}
