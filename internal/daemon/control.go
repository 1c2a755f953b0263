package daemon

import (
	"crypto/tls"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
)

// controlTLS is the TLS configuration of the control listener, nil when
// [control] has no tls_cert. It also records whether client certificates
// are required, which stands in for tokens on an exposed listener.
func (d *daemon) controlTLS(c config.Control) (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cfg, err := control.TLSConfig(c.TLSCert, c.TLSKey, c.ClientCA)
	if err != nil {
		return nil, err
	}
	d.controlCerts = c.ClientCA != ""
	return cfg, nil
}

// controlAccess fills in o what [control] says about who may do what:
// more Host names, the role of client certificates, and the counter of
// failed authentications.
func (d *daemon) controlAccess(c config.Control, o *control.Options) error {
	role, err := control.ParseRole(c.ClientCertRole)
	if err != nil {
		return err
	}
	o.Hosts, o.ClientCertRole = c.Hosts, role
	o.AuthFailed = func(reason string) { d.metrics.ControlAuthFailures.WithLabelValues(reason).Inc() }
	return nil
}
