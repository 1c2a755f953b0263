package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// NotifyEvents are the event names a [[notify]] may list in events: the
// API's event types.
var NotifyEvents = api.EventTypes

var serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// ServiceByName returns the service called name, or nil.
func (c *Config) ServiceByName(name string) *Service {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	return nil
}

// validator checks a decoded Config with defaults filled in. It also
// normalises what it checks: hosts, upstreams, Server.Trusted.
type validator struct{ s *scan }

// add records a problem about the key at path. deps are the other keys the
// verdict rests on. The line cited is that of path, else of a dep, else of
// the nearest table holding path. add stays silent when path or a dep was
// dropped by the scan: the value there is a default standing in for a bad
// one that has been reported already.
func (v validator) add(path string, deps []string, format string, args ...any) {
	at := slices.Concat([]string{path}, deps, ancestors(path)[1:])
	for _, p := range at[:1+len(deps)] {
		if v.s.isBroken(p) {
			return
		}
	}
	v.s.probs.add(v.s.line(at...), path, format, args...)
}

// ancestors returns path and the paths of the tables holding it, nearest
// first: "service[1].blue.upstreams", "service[1].blue", "service[1]", "service".
func ancestors(path string) []string {
	out := []string{path}
	for {
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return out
		}
		path = path[:i]
		out = append(out, path)
	}
}

func validate(c *Config, s *scan) {
	v := validator{s}
	v.server(c)
	v.tls(c)
	v.control(&c.Control)
	if l := c.Log.Level; !slices.Contains([]string{"debug", "info", "warn", "error"}, l) {
		v.add("log.level", nil, `bad level %q (want "debug", "info", "warn" or "error")`, l)
	}
	if f := c.Log.Format; f != "json" && f != "console" {
		v.add("log.format", nil, `bad format %q (want "json" or "console")`, f)
	}
	if c.State.Dir == "" {
		v.add("state.dir", nil, "must not be empty")
	}
	if m := c.State.OnMissing; m != "start" && m != "refuse" {
		v.add("state.on_missing", nil, `bad value %q (want "start" or "refuse")`, m)
	}
	v.stateBackend(&c.State)
	v.services(c.Services)
	v.tlsHosts(c) // after services: it needs their hosts normalised
	for i := range c.Notify {
		v.notify(elem("notify", i), &c.Notify[i])
	}
}

func (v validator) atLeast(path string, d Duration, floor time.Duration) {
	if d.D() < floor {
		v.add(path, nil, "must be at least %s, got %q", floor, d.D().String())
	}
}

func (v validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, nil, "must be positive")
	}
}

func (v validator) server(c *Config) {
	s := &c.Server
	for _, l := range []struct {
		key, addr string
	}{{"server.http_listen", s.HTTPListen}, {"server.https_listen", s.HTTPSListen}} {
		if l.addr == "" {
			continue
		}
		if err := checkListen(l.addr); err != nil {
			v.add(l.key, nil, "bad address %q: %s", l.addr, err)
		}
	}
	if s.HTTPListen == "" && c.TLS.Mode == "off" {
		v.add("server.http_listen", []string{"tls.mode"}, `is empty and tls.mode is "off": nothing would serve requests`)
	}
	v.positive("server.read_header_timeout", s.ReadHeaderTimeout)
	v.positive("server.idle_timeout", s.IdleTimeout)
	v.positive("server.body_read_timeout", s.BodyReadTimeout)
	v.positive("server.upstream_dial_timeout", s.UpstreamDialTimeout)
	v.positive("server.upstream_idle_timeout", s.UpstreamIdleTimeout)
	if s.MaxHeaderBytes < 1024 {
		v.add("server.max_header_bytes", nil, "must be at least 1024, got %d", s.MaxHeaderBytes)
	}
	if s.UpstreamMaxIdle < 0 {
		v.add("server.upstream_max_idle", nil, "must not be negative, got %d", s.UpstreamMaxIdle)
	}
	s.Trusted = nil
	for i, cidr := range s.TrustedProxies {
		p, err := parsePrefix(cidr)
		if err != nil {
			v.add(elem("server.trusted_proxies", i), nil, `bad cidr %q (want e.g. "10.0.0.0/8" or "192.0.2.7")`, cidr)
			continue
		}
		s.Trusted = append(s.Trusted, p)
	}
}

// TLSModes are the values of [tls].mode.
var TLSModes = []string{"off", "acme", "files", "internal"}

func (v validator) tls(c *Config) {
	t := &c.TLS
	if !slices.Contains(TLSModes, t.Mode) {
		v.add("tls.mode", nil, `bad mode %q (want "off", "acme", "files" or "internal")`, t.Mode)
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		v.add("tls.min_version", nil, `bad version %q (want "1.2" or "1.3")`, t.MinVersion)
	}
	if t.HSTS != "" && !validHSTS(t.HSTS) {
		v.add("tls.hsts", nil, `bad value %q (want "max-age=<seconds>", optionally followed by "; includeSubDomains" and "; preload")`, t.HSTS)
	}
	if t.Mode == "off" || !slices.Contains(TLSModes, t.Mode) {
		return
	}
	if c.Server.HTTPSListen == "" {
		v.add("server.https_listen", []string{"tls.mode"}, "is empty and tls.mode is %q: https needs an address", t.Mode)
	}
	switch t.Mode {
	case "acme":
		v.challenges(c)
		if t.CA != "" {
			if u, err := url.Parse(t.CA); err != nil || u.Scheme != "https" || u.Host == "" {
				v.add("tls.ca", nil, `bad url %q (want the "https://" url of an ACME directory)`, t.CA)
			}
		}
		if t.CARoot != "" {
			if _, err := readPEMFile(t.CARoot, "CERTIFICATE"); err != nil {
				v.add("tls.ca_root", nil, "%s", err)
			}
		}
		if t.Email != "" {
			if a, err := mail.ParseAddress(t.Email); err != nil || a.Address != t.Email {
				v.add("tls.email", nil, `bad address %q (want e.g. "ops@example.com")`, t.Email)
			}
		}
	case "files":
		v.keyPair(t)
	}
}

// challenges checks tls.challenges of tls.mode "acme".
func (v validator) challenges(c *Config) {
	chs := c.TLS.Challenges
	if len(chs) == 0 {
		v.add("tls.challenges", []string{"tls.mode"}, `is empty and tls.mode is "acme": want "http-01", "tls-alpn-01" or both`)
	}
	for i, ch := range chs {
		switch {
		case !slices.Contains(ACMEChallenges, ch):
			v.add(elem("tls.challenges", i), nil, `unknown challenge %q (want "http-01" or "tls-alpn-01")`, ch)
		case slices.Index(chs, ch) < i:
			v.add(elem("tls.challenges", i), nil, "%q is listed twice", ch)
		case ch == ChallengeHTTP01 && c.Server.HTTPListen == "":
			// RFC 8555 §8.3: the CA fetches http://<host>:80/.well-known/acme-challenge/…
			v.add("server.http_listen", []string{"tls.mode", elem("tls.challenges", i)},
				`is empty and tls.challenges has "http-01": HTTP-01 challenges arrive on it (leave it out to use only "tls-alpn-01")`)
		}
	}
}

// keyPair checks the files of tls.mode "files" now, so that `switchd
// validate` reports them with the line; the daemon loads them again.
func (v validator) keyPair(t *TLS) {
	deps := []string{"tls.mode"}
	if t.CertFile == "" {
		v.add("tls.cert_file", deps, `required when tls.mode is "files"`)
	}
	if t.KeyFile == "" {
		v.add("tls.key_file", deps, `required when tls.mode is "files"`)
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return
	}
	v.pemPair("tls.cert_file", "tls.key_file", t.CertFile, t.KeyFile)
}

// pemPair checks that certFile and keyFile, named by the keys certKey and
// keyKey, hold a certificate and its private key.
func (v validator) pemPair(certKey, keyKey, certFile, keyFile string) {
	certPEM, err := readPEMFile(certFile, "CERTIFICATE")
	if err != nil {
		v.add(certKey, nil, "%s", err)
	}
	keyPEM, kerr := readPEMFile(keyFile, "PRIVATE KEY")
	if kerr != nil {
		v.add(keyKey, nil, "%s", kerr)
	}
	if err != nil || kerr != nil {
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		if strings.Contains(err.Error(), "does not match") {
			v.add(keyKey, []string{certKey}, "%q does not match the certificate in %q", keyFile, certFile)
			return
		}
		v.add(keyKey, []string{certKey}, "%q and %q are no usable pair: %s", keyFile, certFile, strings.TrimPrefix(err.Error(), "tls: "))
	}
}

// maxPEMFile bounds what validation reads: a certificate chain or a
// root bundle is a few KiB to a few hundred; anything bigger is a mistake.
const maxPEMFile = 4 << 20

// readPEMFile reads a PEM file that must hold a block whose type ends in
// blockType ("CERTIFICATE", "PRIVATE KEY"). Only regular files are read,
// so that a typo like /dev/zero cannot hang validation.
func readPEMFile(path, blockType string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %s", path, pathErr(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("cannot read %q: %s", path, pathErr(err))
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %s", path, pathErr(err))
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("%q is larger than %d MiB", path, maxPEMFile>>20)
	}
	what := "PEM certificate"
	if blockType != "CERTIFICATE" {
		what = "PEM private key"
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, fmt.Errorf("%q holds no %s", path, what)
		}
		if !strings.HasSuffix(b.Type, blockType) {
			continue
		}
		if blockType == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(b.Bytes); err != nil {
				return nil, fmt.Errorf("%q: bad certificate: %s", path, strings.TrimPrefix(err.Error(), "x509: "))
			}
		}
		return data, nil
	}
}

// pathErr drops the path from an *fs.PathError: the message quotes it already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// validHSTS reports whether s is a Strict-Transport-Security value of
// RFC 6797 §6.1 as browsers act on it: max-age with a decimal number of
// seconds, and optionally includeSubDomains and preload, each once, in
// any order, names in any case.
func validHSTS(s string) bool {
	seen := map[string]bool{}
	for d := range strings.SplitSeq(s, ";") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(d), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		if seen[name] {
			return false
		}
		seen[name] = true
		switch name {
		case "max-age":
			if val == "" || len(val) > 10 || strings.Trim(val, "0123456789") != "" {
				return false
			}
		case "includesubdomains", "preload":
			if hasVal {
				return false
			}
		default:
			return false
		}
	}
	return seen["max-age"]
}

// tlsHosts checks the services' hosts against tls.mode: acme and internal
// certify only configured names, and HTTP-01 cannot prove a wildcard.
func (v validator) tlsHosts(c *Config) {
	mode := c.TLS.Mode
	if mode != "acme" && mode != "internal" {
		return
	}
	var exact, named, refused bool
	for i := range c.Services {
		sv, p := &c.Services[i], elem("service", i)
		for j, h := range sv.Hosts {
			if !validHost(h) {
				continue // reported already
			}
			named = true
			if strings.HasPrefix(h, "*.") {
				if mode == "acme" {
					v.add(elem(p+".hosts", j), []string{"tls.mode"},
						`%q needs a DNS challenge, which tls.mode "acme" does not do; use tls.mode "files"`, h)
					refused = true
				}
				continue
			}
			if mode == "acme" && c.TLS.CA == "" && !publicName(h) {
				v.add(elem(p+".hosts", j), []string{"tls.mode", "tls.ca"},
					`%q is not a public name, so Let's Encrypt cannot issue for it; set tls.ca to a private ACME CA, or use tls.mode "internal" or "files"`, h)
				refused = true
			}
			exact = true
		}
	}
	switch {
	case mode == "acme" && !exact && !refused:
		v.add("tls.mode", nil, `"acme" needs a service with an exact name in hosts (like "app.example.com") to get a certificate for`)
	case mode == "internal" && !named:
		v.add("tls.mode", nil, `"internal" needs a service with hosts: certificates are issued only for configured names`)
	}
}

// publicName reports whether a public CA could issue for h: not an
// internal or reserved name (RFC 6761, RFC 8375), not a single label, not
// a private or loopback address.
func publicName(h string) bool {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.IsGlobalUnicast() && !ip.IsPrivate()
	}
	if !strings.Contains(h, ".") {
		return false
	}
	for _, suffix := range []string{".localhost", ".local", ".internal", ".home.arpa", ".test", ".example", ".invalid"} {
		if strings.HasSuffix("."+h, suffix) {
			return false
		}
	}
	return true
}

func (v validator) control(c *Control) {
	needTokens, err := checkControlListen(c.Listen)
	if err != nil {
		v.add("control.listen", nil, "bad address %q: %s", c.Listen, err)
		return
	}
	if needTokens && c.TokensFile == "" && c.ClientCA == "" {
		v.add("control.tokens_file", []string{"control.listen"},
			"required when control.listen %q is neither loopback nor a unix socket (or set control.client_ca)", c.Listen)
	}
	_, unix := unixSocket(c.Listen)
	switch {
	case (c.TLSCert != "" || c.TLSKey != "") && unix:
		v.add("control.tls_cert", []string{"control.listen"}, "TLS is for a TCP control.listen, not the unix socket %q", c.Listen)
	case c.TLSCert == "" && c.TLSKey != "":
		v.add("control.tls_cert", []string{"control.tls_key"}, "required with control.tls_key")
	case c.TLSCert != "" && c.TLSKey == "":
		v.add("control.tls_key", []string{"control.tls_cert"}, "required with control.tls_cert")
	case c.TLSCert != "":
		v.pemPair("control.tls_cert", "control.tls_key", c.TLSCert, c.TLSKey)
	}
	if c.ClientCA != "" {
		if c.TLSCert == "" {
			v.add("control.client_ca", nil, "needs control.tls_cert and control.tls_key: client certificates come with TLS")
		} else if _, err := readPEMFile(c.ClientCA, "CERTIFICATE"); err != nil {
			v.add("control.client_ca", nil, "%s", err)
		}
	}
	if r := c.ClientCertRole; !slices.Contains([]string{"read", "operate", "admin"}, r) {
		v.add("control.client_cert_role", nil, `bad role %q (want "read", "operate" or "admin")`, r)
	}
	for i, h := range c.Hosts {
		n := normalizeHost(h)
		if !validPeerName(n) {
			v.add(elem("control.hosts", i), nil, `bad host %q (want a name or an IP, without port)`, h)
			continue
		}
		c.Hosts[i] = n
	}
}

func (v validator) services(svcs []Service) {
	if len(svcs) == 0 {
		v.add("service", nil, "at least one [[service]] is required")
		return
	}
	byName := make(map[string]int) // name → service index
	byHost := make(map[string]int) // normalised host → service index
	defaultSvc := -1               // the service without hosts
	for i := range svcs {
		sv, p := &svcs[i], elem("service", i)
		switch first, dup := byName[sv.Name]; {
		case sv.Name == "":
			v.add(p+".name", nil, "required")
		case !serviceName.MatchString(sv.Name):
			v.add(p+".name", nil, `bad name %q (want lowercase letters, digits, "_", "." or "-", at most 63, starting with a letter or digit)`, sv.Name)
		case dup:
			v.add(p+".name", nil, "service name %q is already used on line %d", sv.Name, v.s.line(ancestors(elem("service", first)+".name")...))
		default:
			byName[sv.Name] = i
		}

		for j, h := range sv.Hosts {
			n, hp := normalizeHost(h), elem(p+".hosts", j)
			sv.Hosts[j] = n
			owner, dup := byHost[n]
			switch {
			case !validHost(n):
				v.add(hp, nil, `bad host %q (want a DNS name like "app.example.com" or a pattern like "*.example.com")`, h)
			case dup && owner == i:
				v.add(hp, nil, "host %q is listed twice", h)
			case dup:
				v.add(hp, nil, "host %q is already used by service %q", h, svcs[owner].Name)
			default:
				byHost[n] = i
			}
		}
		if len(sv.Hosts) == 0 {
			if defaultSvc >= 0 {
				v.add(p+".hosts", nil, "empty, but service %q is already the default service (the one without hosts)", svcs[defaultSvc].Name)
			} else {
				defaultSvc = i
			}
		}

		v.pools(p, sv)
		v.health(p+".health.", &sv.Health)
		v.guard(p+".guard.", &sv.Guard)
		v.upstreamTLS(p+".upstream_tls.", &sv.UpstreamTLS)
		if !validHeaderName(sv.Preview.Header) {
			v.add(p+".preview.header", nil, "bad header name %q", sv.Preview.Header)
		}
	}
}

func (v validator) pools(p string, sv *Service) {
	if !sv.Initial.Valid() {
		v.add(p+".initial", nil, `want "blue" or "green"`)
	}
	seen := make(map[string]Color) // canonical upstream → colour it is in
	for _, c := range Colors {
		key := p + "." + c.String() + ".upstreams"
		ups := sv.Pool(c).Upstreams
		for j, u := range ups {
			canon, err := parseUpstream(u)
			if err != nil {
				v.add(elem(key, j), nil, "bad upstream %q: %s", u, err)
				continue
			}
			ups[j] = canon
			if other, dup := seen[canon]; dup {
				v.add(elem(key, j), nil, "duplicate upstream %q (also in %s.upstreams)", u, other)
				continue
			}
			seen[canon] = c
		}
	}
	// Whether the active colour has upstreams depends on state.json too:
	// see CheckActive.
}

// upstreamTLS checks the client certificate pair now, as keyPair does for
// the listener's, so that `switchd validate` and a reload report it with
// the line. ca_file is read when switchd starts or reloads.
func (v validator) upstreamTLS(p string, u *UpstreamTLS) {
	switch {
	case u.CertFile == "" && u.KeyFile != "":
		v.add(p+"cert_file", []string{p + "key_file"}, "required with upstream_tls.key_file")
	case u.CertFile != "" && u.KeyFile == "":
		v.add(p+"key_file", []string{p + "cert_file"}, "required with upstream_tls.cert_file")
	case u.CertFile != "":
		v.pemPair(p+"cert_file", p+"key_file", u.CertFile, u.KeyFile)
	}
	if u.ServerName != "" {
		n := normalizeHost(u.ServerName)
		if !validPeerName(n) {
			v.add(p+"server_name", nil, `bad name %q (want a DNS name like "app.internal" or an IP, without port)`, u.ServerName)
		}
		u.ServerName = n
	}
}

// validPeerName reports whether n (normalised) names one peer: a DNS name,
// not a pattern, or an IP.
func validPeerName(n string) bool {
	if _, err := netip.ParseAddr(n); err == nil {
		return true
	}
	return validHost(n) && !strings.HasPrefix(n, "*")
}

func (v validator) health(p string, h *Health) {
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsFunc(h.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		v.add(p+"path", nil, `bad path %q (want e.g. "/healthz")`, h.Path)
	}
	// A floor keeps a typo ("1ns") from turning checks into a flood.
	const minInterval = 10 * time.Millisecond
	v.atLeast(p+"interval", h.Interval, minInterval)
	v.positive(p+"timeout", h.Timeout)
	// Compared only when both are fine on their own: one error per mistake.
	if h.Timeout > h.Interval && h.Interval.D() >= minInterval && h.Timeout > 0 {
		v.add(p+"timeout", []string{p + "interval"}, "%q is longer than health.interval %q", h.Timeout.D().String(), h.Interval.D().String())
	}
	if h.Rise < 1 {
		v.add(p+"rise", nil, "must be at least 1, got %d", h.Rise)
	}
	if h.Fall < 1 {
		v.add(p+"fall", nil, "must be at least 1, got %d", h.Fall)
	}
	if strings.ContainsFunc(h.Host, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' }) {
		v.add(p+"host", nil, "bad host %q", h.Host)
	}
}

func (v validator) guard(p string, g *Guard) {
	// The window is counted in buckets; below 100ms there is nothing to count.
	v.atLeast(p+"window", g.Window, 100*time.Millisecond)
	if !(g.MaxErrorRate > 0 && g.MaxErrorRate <= 1) {
		v.add(p+"max_error_rate", nil, "must be in (0, 1], got %g", g.MaxErrorRate)
	}
	if g.MinRequests < 1 {
		v.add(p+"min_requests", nil, "must be at least 1, got %d", g.MinRequests)
	}
}

func (v validator) notify(p string, n *Notify) {
	u, err := url.Parse(n.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(p+".url", nil, `bad url %q (want an absolute "http://" or "https://" url)`, n.URL)
	}
	for i, e := range n.Events {
		if !slices.Contains(NotifyEvents, e) {
			v.add(elem(p+".events", i), nil, "unknown event %q (want one of %s)", e, quoteList(NotifyEvents))
		}
	}
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
