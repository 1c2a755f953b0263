package tlsx

import (
	"crypto/x509"
	"time"
)

// Certificate describes the certificate the https listener would serve for
// one configured host.
type Certificate struct {
	// Host is the configured host ("app.example.com", "*.example.com"); in
	// mode "files" without any configured host, "*": the pair is served
	// for every name.
	Host string
	// Source is the mode that provides it: "acme", "files" or "internal".
	Source string
	// Issuer is the issuing CA's common name (its whole subject when it
	// has none); "" when there is no certificate.
	Issuer string
	// NotAfter is when the certificate expires; zero when there is none
	// (in "acme" until the first one is obtained).
	NotAfter time.Time
}

// Certificates returns, for every configured host in order, the
// certificate a handshake for it would be served now: read from
// certmagic's cache in "acme" (renewals replace it there), the loaded pair
// in "files" (a reload of the files replaces it), and in "internal" the
// leaf of the local CA — issued now when there is none yet or it is due
// for replacement, as the next handshake would. Nil in mode "off".
func (m *Manager) Certificates() []Certificate {
	if m.mode == "off" {
		return nil
	}
	l := m.live.Load()
	hosts := l.opts.Hosts
	if m.mode == "files" && len(hosts) == 0 {
		hosts = []string{"*"}
	}
	out := make([]Certificate, 0, len(hosts))
	for _, h := range hosts {
		c := Certificate{Host: h, Source: m.mode}
		var leaf *x509.Certificate
		switch m.mode {
		case "files":
			leaf = m.files.leaf.Load()
		case "internal":
			if tc, err := m.ca.leaf(h, h); err == nil {
				leaf = tc.Leaf
			}
		case "acme":
			for _, mc := range m.cache.AllMatchingCertificates(h) {
				// Old and new may both be cached for a moment around a
				// renewal; the handshake prefers the newer.
				if mc.Leaf != nil && (leaf == nil || mc.Leaf.NotAfter.After(leaf.NotAfter)) {
					leaf = mc.Leaf
				}
			}
		}
		if leaf != nil {
			c.NotAfter, c.Issuer = leaf.NotAfter, leaf.Issuer.CommonName
			if c.Issuer == "" {
				c.Issuer = leaf.Issuer.String()
			}
		}
		out = append(out, c)
	}
	return out
}
