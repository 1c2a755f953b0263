package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// NotifyEvents are the event names a [[notify]] may list in events.
var NotifyEvents = []string{"flip", "rollback", "guard", "failover", "guard_blocked", "health", "reload"}

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
	v.tls(&c.TLS)
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
	v.services(c.Services)
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
	v.positive("server.upstream_dial_timeout", s.UpstreamDialTimeout)
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

func (v validator) tls(t *TLS) {
	switch t.Mode {
	case "off":
	case "acme", "files", "internal":
		v.add("tls.mode", nil, "%q is not implemented yet", t.Mode)
	default:
		v.add("tls.mode", nil, `bad mode %q (want "off", "acme", "files" or "internal")`, t.Mode)
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		v.add("tls.min_version", nil, `bad version %q (want "1.2" or "1.3")`, t.MinVersion)
	}
}

func (v validator) control(c *Control) {
	needTokens, err := checkControlListen(c.Listen)
	if err != nil {
		v.add("control.listen", nil, "bad address %q: %s", c.Listen, err)
		return
	}
	if needTokens && c.TokensFile == "" {
		v.add("control.tokens_file", []string{"control.listen"},
			"required when control.listen %q is neither loopback nor a unix socket", c.Listen)
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
	// The idle colour may be empty (nothing deployed yet); the active one
	// would answer every request with 502.
	if c := sv.Initial; c.Valid() && len(sv.Pool(c).Upstreams) == 0 {
		v.add(p+"."+c.String()+".upstreams", []string{p + ".initial"}, "the active colour %s has no upstreams", c)
	}
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
