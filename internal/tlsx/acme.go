package tlsx

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// newMagic makes the one certmagic cache and config of a Manager, with
// storage under StateDir/tls. No issuer: the caller sets Issuers.
func (m *Manager) newMagic(o Options) {
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		// One config for every certificate in this cache.
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:           o.Logger,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(o.StateDir, "tls")},
		Logger:  o.Logger,
		// Non-nil and empty: New would otherwise add a Let's Encrypt issuer.
		Issuers: []certmagic.Issuer{},
	})
}

// startACME sets up certmagic with an ACME issuer that proves names only
// with HTTP-01 on the plain-HTTP listener. ManageAsync is New's last step.
func (m *Manager) startACME(o Options) error {
	t := o.TLS
	tmpl := certmagic.ACMEIssuer{
		CA:     t.CA, // "": Let's Encrypt production
		Email:  t.Email,
		Agreed: true, // choosing tls.mode "acme" is accepting the CA's terms
		// TLS-ALPN-01 would need acme-tls/1 on the https listener and
		// port 443 reachable; HTTP-01 on http_listen is the one we answer.
		DisableTLSALPNChallenge: true,
		Logger:                  o.Logger,
	}
	if t.CARoot != "" {
		pool, err := loadRoots(t.CARoot)
		if err != nil {
			return err
		}
		tmpl.TrustedRoots = pool
	}
	// certmagic's HTTP-01 solver starts its own server on ListenHost:
	// AltHTTPPort unless something already listens there. Pointing it at
	// our own plain listener makes it always find that one, and the
	// challenge is answered by HTTPHandler.
	addr := o.HTTPListen
	if addr == "" {
		addr = ":80"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("tls: http listen address %q: %w", addr, err)
	}
	if tmpl.AltHTTPPort, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("tls: http listen address %q: bad port", addr)
	}
	tmpl.ListenHost = host

	m.newMagic(o)
	m.issuer = certmagic.NewACMEIssuer(m.magic, tmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return nil
}

// manageChanges starts managing hosts new in now and stops renewing the
// ones gone from it; their certificates stay in storage.
func (m *Manager) manageChanges(was, now hostSet) {
	var added []string
	for h := range now.exact {
		if !was.exact[h] {
			added = append(added, h)
		}
	}
	var removed []certmagic.SubjectIssuer
	for h := range was.exact {
		if !now.exact[h] {
			removed = append(removed, certmagic.SubjectIssuer{Subject: h})
		}
	}
	if len(removed) > 0 {
		m.cache.RemoveManaged(removed)
	}
	if len(added) > 0 {
		m.log.Info("managing certificates for new hosts", zap.Strings("hosts", added))
		if err := m.magic.ManageAsync(m.ctx, added); err != nil {
			m.log.Error("managing certificates", zap.Strings("hosts", added), zap.Error(err))
		}
	}
}

// loadRoots reads a PEM bundle of CA certificates.
func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls.ca_root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.ca_root: %q holds no PEM certificate", file)
	}
	return pool, nil
}
