package tlsx

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
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

// startACME sets up certmagic with an ACME issuer that proves names with
// the challenges of o.TLS.Challenges, each on switchd's own listener: HTTP-01
// on the plain-HTTP one, TLS-ALPN-01 on the https one. ManageAsync is New's
// last step.
func (m *Manager) startACME(o Options) error {
	t := o.TLS
	httpOn := slices.Contains(t.Challenges, config.ChallengeHTTP01)
	alpnOn := slices.Contains(t.Challenges, config.ChallengeTLSALPN01)
	if !httpOn && !alpnOn {
		return errors.New(`tls: mode "acme" needs at least one of the challenges "http-01" and "tls-alpn-01"`)
	}
	tmpl := certmagic.ACMEIssuer{
		CA:                      t.CA, // "": Let's Encrypt production
		Email:                   t.Email,
		Agreed:                  true, // choosing tls.mode "acme" is accepting the CA's terms
		DisableHTTPChallenge:    !httpOn,
		DisableTLSALPNChallenge: !alpnOn,
		Logger:                  o.Logger,
	}
	if t.CARoot != "" {
		pool, err := loadRoots(t.CARoot)
		if err != nil {
			return err
		}
		tmpl.TrustedRoots = pool
	}
	// certmagic's solvers start their own servers on ListenHost:AltHTTPPort
	// and ListenHost:AltTLSALPNPort unless something already listens
	// there. Pointing them at our own listeners, bound before New, makes
	// them always find those, and the challenges are answered by
	// HTTPHandler and by TLSConfig's GetCertificate. certmagic has one
	// ListenHost for both: HTTP-01's when it is on (as before TLS-ALPN-01
	// could be chosen), else the https listener's.
	var err error
	if alpnOn {
		if tmpl.ListenHost, tmpl.AltTLSALPNPort, err = listenHostPort(o.HTTPSListen, ":443", "https"); err != nil {
			return err
		}
	}
	if httpOn {
		if tmpl.ListenHost, tmpl.AltHTTPPort, err = listenHostPort(o.HTTPListen, ":80", "http"); err != nil {
			return err
		}
	}
	m.newMagic(o)
	m.issuer = certmagic.NewACMEIssuer(m.magic, tmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return nil
}

// listenHostPort splits a listen address ("" is def) for certmagic.
func listenHostPort(addr, def, what string) (string, int, error) {
	if addr == "" {
		addr = def
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("tls: %s listen address %q: %w", what, addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("tls: %s listen address %q: bad port", what, addr)
	}
	return host, n, nil
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
