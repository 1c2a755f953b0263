package tlsx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
)

// ErrNeedsRestart is wrapped by Update when the new options change
// something only a restart can: the mode, the state folder, or the ACME
// account, CA and challenges.
var ErrNeedsRestart = errors.New("needs a restart of switchd")

// Options configure a Manager.
type Options struct {
	// TLS is the [tls] section, as config.Parse returned it.
	TLS config.TLS
	// Hosts are the names to serve: every host of every service (Hosts
	// collects them). "acme" gets a certificate for each (wildcards are
	// refused: neither HTTP-01 nor TLS-ALPN-01 can prove them); "internal" issues for the names
	// that match one; "files" ignores them. Nil: none, and "acme" and
	// "internal" then fail every handshake.
	Hosts []string
	// StateDir is [state].dir. certmagic's storage (account, certificates,
	// locks, OCSP staples) and the internal CA live under StateDir/tls.
	// Required unless the mode is "off".
	StateDir string
	// HTTPListen is the address the plain-HTTP listener is bound to
	// (server.http_listen, or the socket-activated listener's address).
	// In "acme" mode certmagic's HTTP-01 solver tries to bind it and, finding
	// it taken, leaves the challenge to HTTPHandler; so the listener must
	// be bound before New. "": ":80". Read by New only.
	HTTPListen string
	// HTTPSListen is the https address (server.https_listen, or the
	// socket-activated listener's); its port goes into HTTPHandler's
	// redirects, left out when it is 443. In "acme" mode with TLS-ALPN-01
	// the listener must be bound before New, as HTTPListen's: certmagic's
	// solver then finds it taken and leaves the challenge handshakes to
	// TLSConfig. "": ":443".
	HTTPSListen string
	// Logger receives the manager's and certmagic's logs. Nil: none.
	Logger *zap.Logger
}

// Hosts returns every host of every service, in order, each once: what
// Options.Hosts wants.
func Hosts(services []config.Service) []string {
	var out []string
	for _, s := range services {
		for _, h := range s.Hosts {
			if h = normalizeName(h); !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// Manager owns the listener side of TLS: the certificates, the https
// tls.Config, the plain-HTTP handler (ACME challenges, redirects) and HSTS.
// Its methods are safe for concurrent use.
type Manager struct {
	mode     string
	stateDir string
	log      *zap.Logger

	// ctx bounds certmagic's background work (obtaining, renewing, OCSP);
	// Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	live  atomic.Pointer[live] // what Update may change, read per request and handshake
	outer *tls.Config          // TLSConfig's answer; hands every handshake to live.tls

	// acme and files: one cache, one config.
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer // acme only

	files *filePair // files only
	ca    *localCA  // internal only

	mu        sync.Mutex // serialises Update, file reloads and Close
	closed    bool
	closeOnce sync.Once
}

// live is the part of the options a reload may change, in the form the
// hot paths want. Never modified after it is stored.
type live struct {
	opts      Options
	tls       *tls.Config
	hosts     hostSet
	redirect  bool
	httpsPort string // "" for 443
	hsts      string
}

// New starts the TLS side in the mode of o.TLS.Mode:
//
//   - "off": nothing; TLSConfig returns nil, HTTPHandler passes through.
//   - "acme": certmagic obtains and renews a certificate per host of
//     o.Hosts, in the background: New returns before the certificates
//     exist. The challenges are o.TLS.Challenges: HTTP-01 answered by
//     HTTPHandler, TLS-ALPN-01 by TLSConfig's handshakes.
//   - "files": the pair of o.TLS.CertFile and KeyFile, reloaded when the
//     files change.
//   - "internal": a local CA, created once under StateDir/tls/internal,
//     issues a certificate for each configured name a client asks for.
//
// ctx bounds New only; background work lasts until Close.
func New(ctx context.Context, o Options) (*Manager, error) {
	o = normalize(o)
	m := &Manager{mode: o.TLS.Mode, stateDir: o.StateDir, log: o.Logger}
	l, err := m.newLive(o)
	if err != nil {
		return nil, err
	}
	if m.mode == "off" {
		m.live.Store(l)
		return m, nil
	}
	if o.StateDir == "" {
		return nil, errors.New("tls: a state folder is required")
	}
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	switch m.mode {
	case "acme":
		err = m.startACME(o)
	case "files":
		err = m.startFiles(ctx, o)
	case "internal":
		m.ca, err = openLocalCA(filepath.Join(o.StateDir, "tls", "internal"), m.log)
	}
	if err != nil {
		m.cancel()
		if m.cache != nil {
			m.cache.Stop()
		}
		return nil, err
	}
	m.live.Store(l)
	m.outer = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: l.tls.NextProtos,
		// One indirection per handshake lets Update change the minimum
		// version and the hosts of connections to come.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return m.live.Load().tls, nil },
	}
	if m.mode == "acme" {
		if len(l.hosts.exact) == 0 {
			m.log.Warn(`tls.mode "acme" without hosts: no certificate to get, every handshake fails`)
		}
		// Only now that live is set may certificates be asked for.
		if err := m.magic.ManageAsync(m.ctx, l.hosts.exactNames()); err != nil {
			m.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	return m, nil
}

// newLive checks o and builds what the hot paths read.
func (m *Manager) newLive(o Options) (*live, error) {
	if !slices.Contains(config.TLSModes, o.TLS.Mode) {
		return nil, fmt.Errorf("tls: bad mode %q", o.TLS.Mode)
	}
	l := &live{opts: o, hosts: newHostSet(o.Hosts), hsts: o.TLS.HSTS}
	if o.TLS.Mode == "off" {
		return l, nil
	}
	l.redirect = o.TLS.RedirectHTTP
	if _, port, err := net.SplitHostPort(o.HTTPSListen); err == nil && port != "443" && port != "https" {
		l.httpsPort = port
	}
	if o.TLS.Mode == "acme" {
		if w := l.hosts.patterns(); len(w) > 0 {
			return nil, fmt.Errorf("tls: host %q needs a DNS challenge, which acme mode does not do", w[0])
		}
	}
	minVersion := uint16(tls.VersionTLS12)
	switch o.TLS.MinVersion {
	case "1.2", "":
	case "1.3":
		minVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("tls: bad min_version %q", o.TLS.MinVersion)
	}
	l.tls = &tls.Config{
		MinVersion:     minVersion,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: m.getCertificate,
	}
	if o.TLS.Mode == "acme" && slices.Contains(o.TLS.Challenges, config.ChallengeTLSALPN01) {
		// The CA's TLS-ALPN-01 handshake offers only acme-tls/1; without
		// it here Go refuses the handshake before GetCertificate, where
		// certmagic answers with the challenge certificate.
		l.tls.NextProtos = append(l.tls.NextProtos, acmeTLS1)
	}
	return l, nil
}

// acmeTLS1 is the ALPN protocol of TLS-ALPN-01 (RFC 8737 §6.2).
const acmeTLS1 = "acme-tls/1"

// TLSConfig returns the configuration of the https http.Server (nil in mode
// "off"). It serves h2 and http/1.1; certificates come from the mode.
func (m *Manager) TLSConfig() *tls.Config { return m.outer }

// CAFile returns the internal CA's certificate PEM file, for operators and
// clients to trust; "" unless the mode is "internal".
func (m *Manager) CAFile() string {
	if m.ca == nil {
		return ""
	}
	return m.ca.certFile
}

// Update applies reloaded options. "acme" starts managing new hosts and
// drops removed ones; "files" re-reads the pair; "internal" issues for the
// new hosts; all modes take the new min_version, redirect_http and hsts.
// A change of mode, state folder, or ACME CA, root, e-mail or challenges
// returns an error wrapping ErrNeedsRestart (Reloadable takes those out of a reload).
// On any error nothing changed.
func (m *Manager) Update(ctx context.Context, o Options) error {
	o = normalize(o)
	stale, err := m.update(ctx, o)
	if stale != nil {
		stale.stop()
	}
	return err
}

func (m *Manager) update(ctx context.Context, o Options) (stale *fileWatch, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("tls: manager is closed")
	}
	old := m.live.Load()
	if o.TLS.Mode != m.mode {
		return nil, fmt.Errorf("tls: tls.mode %q → %q %w", m.mode, o.TLS.Mode, ErrNeedsRestart)
	}
	if m.mode != "off" && o.StateDir != m.stateDir {
		return nil, fmt.Errorf("tls: state.dir %q → %q %w", m.stateDir, o.StateDir, ErrNeedsRestart)
	}
	if m.mode == "acme" {
		for _, c := range []struct{ key, was, is string }{
			{"ca", old.opts.TLS.CA, o.TLS.CA},
			{"ca_root", old.opts.TLS.CARoot, o.TLS.CARoot},
			{"email", old.opts.TLS.Email, o.TLS.Email},
			{"challenges", strings.Join(old.opts.TLS.Challenges, ","), strings.Join(o.TLS.Challenges, ",")},
		} {
			if c.was != c.is {
				return nil, fmt.Errorf("tls: tls.%s %q → %q %w", c.key, c.was, c.is, ErrNeedsRestart)
			}
		}
	}
	l, err := m.newLive(o)
	if err != nil {
		return nil, err
	}
	if m.mode == "files" {
		if stale, err = m.reloadFiles(ctx, o.TLS.CertFile, o.TLS.KeyFile, true); err != nil {
			return nil, err
		}
	}
	m.live.Store(l)
	if m.mode == "acme" {
		m.manageChanges(old.hosts, l.hosts)
	}
	return stale, nil
}

// Reloadable prepares o for Update the way a reload treats listen
// addresses: what only a restart can change is set back to the running
// values, and the keys that differed are returned, for the caller to log.
// Those are tls.mode, state.dir, and for "acme" tls.ca, tls.ca_root,
// tls.email and tls.challenges; with another mode, the settings of the running mode (its
// files, its CA) are kept too, and only the rest (hosts, min_version,
// redirect_http, hsts) goes through.
func (m *Manager) Reloadable(o Options) (Options, []string) {
	run := m.live.Load().opts
	var keys []string
	if o.TLS.Mode != m.mode {
		keys = append(keys, "tls.mode")
		o.TLS.Mode = m.mode
		o.TLS.CertFile, o.TLS.KeyFile = run.TLS.CertFile, run.TLS.KeyFile
		o.TLS.CA, o.TLS.CARoot, o.TLS.Email = run.TLS.CA, run.TLS.CARoot, run.TLS.Email
		o.TLS.Challenges = run.TLS.Challenges
	}
	if m.mode != "off" && o.StateDir != m.stateDir {
		keys = append(keys, "state.dir")
		o.StateDir = m.stateDir
	}
	if m.mode == "acme" {
		for _, f := range []struct {
			key      string
			now, was *string
		}{
			{"tls.ca", &o.TLS.CA, &run.TLS.CA},
			{"tls.ca_root", &o.TLS.CARoot, &run.TLS.CARoot},
			{"tls.email", &o.TLS.Email, &run.TLS.Email},
		} {
			if *f.now != *f.was {
				keys = append(keys, f.key)
				*f.now = *f.was
			}
		}
		if !slices.Equal(o.TLS.Challenges, run.TLS.Challenges) {
			keys = append(keys, "tls.challenges")
			o.TLS.Challenges = run.TLS.Challenges
		}
	}
	return o, keys
}

// Close stops certmagic's cache and background work and the file watcher.
// The Manager must not be used after.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		if m.cancel != nil {
			m.cancel()
		}
		if m.files != nil {
			m.files.stopWatch()
		}
		if m.cache != nil {
			m.cache.Stop()
		}
	})
}

// getCertificate is the GetCertificate of every handshake.
func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.mode == "files" {
		return m.filesCertificate(hello)
	}
	name := helloName(hello)
	pattern, ok := m.live.Load().hosts.match(name)
	if !ok {
		// Issuing for any name a client sends would let anyone make us
		// ask a CA (or our own) for certificates.
		return nil, fmt.Errorf("tls: no certificate for %q: not a configured host", name)
	}
	if m.mode == "internal" {
		return m.ca.leaf(name, pattern)
	}
	return m.magic.GetCertificate(hello)
}

// helloName is the name a handshake is for: the SNI, or without one (an
// address typed in) the local IP the client reached.
func helloName(hello *tls.ClientHelloInfo) string {
	if hello.ServerName != "" {
		return normalizeName(hello.ServerName)
	}
	if hello.Conn == nil {
		return ""
	}
	if ap, err := netip.ParseAddrPort(hello.Conn.LocalAddr().String()); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	return ""
}

func normalize(o Options) Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	hosts := make([]string, 0, len(o.Hosts))
	for _, h := range o.Hosts {
		if h = normalizeName(h); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	o.Hosts = hosts
	return o
}

// normalizeName lowercases a host and strips a trailing dot, as config
// and the router do.
func normalizeName(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// hostSet answers whether a name is configured: exactly, or under a
// "*.suffix" pattern, which (as in the router) covers any depth.
type hostSet struct {
	exact    map[string]bool
	suffixes []string // ".example.com", longest first
}

func newHostSet(hosts []string) hostSet {
	s := hostSet{exact: map[string]bool{}}
	for _, h := range hosts {
		if suf, ok := strings.CutPrefix(h, "*"); ok {
			s.suffixes = append(s.suffixes, suf)
			continue
		}
		s.exact[h] = true
	}
	slices.SortStableFunc(s.suffixes, func(a, b string) int { return len(b) - len(a) })
	return s
}

// match returns the host that covers name: name itself, or "*.suffix".
func (s hostSet) match(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if s.exact[name] {
		return name, true
	}
	for _, suf := range s.suffixes {
		if len(name) > len(suf) && strings.HasSuffix(name, suf) {
			return "*" + suf, true
		}
	}
	return "", false
}

func (s hostSet) exactNames() []string {
	out := make([]string, 0, len(s.exact))
	for h := range s.exact {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

func (s hostSet) patterns() []string {
	out := make([]string, len(s.suffixes))
	for i, suf := range s.suffixes {
		out[i] = "*" + suf
	}
	return out
}
