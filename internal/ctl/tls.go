package ctl

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsFiles are the PEM files of an https control API: the CA to trust
// (empty: the system's roots) and a client certificate with its key (for
// a control API with client_ca).
type tlsFiles struct {
	caCert, cert, key string
}

func (f tlsFiles) any() bool { return f.caCert != "" || f.cert != "" || f.key != "" }

// orEnv fills what the flags left empty from $SWITCHD_CACERT,
// $SWITCHD_CERT and $SWITCHD_KEY.
func (f tlsFiles) orEnv(env func(string) string) tlsFiles {
	f.caCert = firstNonEmpty(f.caCert, env("SWITCHD_CACERT"))
	f.cert = firstNonEmpty(f.cert, env("SWITCHD_CERT"))
	f.key = firstNonEmpty(f.key, env("SWITCHD_KEY"))
	return f
}

// config is the client TLS configuration the files describe.
func (f tlsFiles) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caCert != "" {
		pem, err := os.ReadFile(f.caCert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert: %q holds no PEM certificate", f.caCert)
		}
	}
	switch {
	case f.cert == "" && f.key == "":
	case f.cert == "" || f.key == "":
		return nil, errors.New("--cert and --key go together")
	default:
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--cert %q, --key %q: %w", f.cert, f.key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
