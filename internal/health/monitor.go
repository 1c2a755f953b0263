package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/metrics"
	"github.com/switchd/switchd/internal/tlsx"
)

// Options configures a Monitor. The zero value is usable.
type Options struct {
	// Observer receives every transition, from probes and from passive
	// failures (Target.Fail) alike. It is called on a prober's or a
	// request's goroutine and must not block, nor call Sync or Close, nor
	// Fail or Record on the Target that reported. Nil: none.
	Observer Observer
	// Logger receives "upstream up" (info) and "upstream down" (warn), only
	// on transitions. Nil: no logging. Callers usually pass
	// logger.Named("health").
	Logger *zap.Logger
	// Metrics receives health_checks_total for every probe and
	// upstream_healthy on every transition. Nil: no metrics.
	Metrics *metrics.Metrics
}

// Monitor actively checks every upstream of both colours of every service,
// the idle colour too, and keeps each one's Target. Create it with
// NewMonitor, feed it with Sync, stop it with Close.
type Monitor struct {
	obs Observer // the caller's, may be nil
	log *zap.Logger
	met *metrics.Metrics

	// jitter returns the wait before the next probe for an interval; tests
	// replace it to make schedules deterministic.
	jitter func(time.Duration) time.Duration

	// syncMu serialises Sync and Close, which wait for probers to stop; it
	// is never taken by probers, so an Observer may call Target.
	syncMu  sync.Mutex
	closed  bool
	clients map[string]*svcClient // by service name

	mu      sync.RWMutex // guards targets; held only for map access
	targets map[key]*entry
}

type key struct{ service, address string }

// entry is one probed upstream: its Target and the goroutine checking it.
type entry struct {
	t      *Target
	spec   probeSpec
	cancel context.CancelFunc
	done   chan struct{}
}

// svcClient is one service's probe transport, kept across reloads unless
// its TLS settings change.
type svcClient struct {
	https  bool
	tlsKey string // tlsx.UpstreamConfig's key; "" without https:// upstreams
	client *http.Client
	tr     *http.Transport
}

// NewMonitor returns a Monitor with nothing to check; call Sync.
func NewMonitor(o Options) *Monitor {
	m := &Monitor{
		obs:     o.Observer,
		log:     o.Logger,
		met:     o.Metrics,
		jitter:  jitter,
		clients: map[string]*svcClient{},
		targets: map[key]*entry{},
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	return m
}

// jitter spreads checks by ±10% so that upstreams configured together (and
// several switchd hosts) do not probe in lockstep; it is drawn afresh every
// round.
func jitter(d time.Duration) time.Duration { return jittered(d, rand.Float64()) }

// jittered maps u in [0,1) to d·[0.9, 1.1).
func jittered(d time.Duration, u float64) time.Duration {
	return d + time.Duration((2*u-1)*0.1*float64(d))
}

// Target returns the live health of an upstream of a service, or nil when
// the pair is not configured. The same *Target is returned across reloads
// that keep the upstream.
func (m *Monitor) Target(service, address string) *Target {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.targets[key{service, address}]; e != nil {
		return e.t
	}
	return nil
}

// want is what Sync wants for one upstream.
type want struct {
	color      config.Color
	rise, fall int
	spec       probeSpec
}

// Sync makes the probed set match svcs, every upstream of both colours.
// Targets are keyed by (service name, address as written): a kept one keeps
// its Target, state and counters (rise, fall and colour are updated; its
// prober restarts only when path, interval, timeout, expect_status, host or
// TLS settings changed); a new one starts Unknown and is probed at once; a
// removed one stops. An address listed twice in a service is probed once,
// under the first colour that lists it (blue before green).
//
// It returns an error only when a service with https:// upstreams has a bad
// upstream_tls (an unreadable CA or client certificate file); then nothing
// changes. After Close it
// does nothing.
func (m *Monitor) Sync(svcs []config.Service) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed {
		return nil
	}

	// Everything that can fail happens before anything changes.
	clients := make(map[string]*svcClient, len(svcs))
	for i := range svcs {
		s := &svcs[i]
		if _, dup := clients[s.Name]; dup {
			continue
		}
		c, err := m.clientFor(s)
		if err != nil {
			return fmt.Errorf("service %q: %w", s.Name, err)
		}
		clients[s.Name] = c
	}

	wants := map[key]want{}
	for i := range svcs {
		s := &svcs[i]
		for _, c := range config.Colors {
			for _, addr := range s.Pool(c).Upstreams {
				k := key{s.Name, addr}
				if _, dup := wants[k]; dup {
					continue
				}
				wants[k] = wantFor(s, c, addr, clients[s.Name].client)
			}
		}
	}

	// Stop what goes away or changes, all at once, then wait: a stopped
	// prober must not Record after its upstream is gone or re-specified.
	var stopping []*entry
	m.mu.RLock()
	for k, e := range m.targets {
		if w, ok := wants[k]; !ok || w.spec != e.spec {
			e.cancel()
			stopping = append(stopping, e)
		}
	}
	m.mu.RUnlock()
	for _, e := range stopping {
		<-e.done
	}

	m.mu.Lock()
	for k, e := range m.targets {
		if _, ok := wants[k]; !ok {
			delete(m.targets, k)
			m.deleteGauge(k, e.t.Color())
		}
	}
	for k, w := range wants {
		e := m.targets[k]
		if e == nil {
			t := newTarget(k.service, k.address, w.color, w.rise, w.fall, nil)
			t.obs = targetObserver{m, t}
			e = &entry{t: t}
			m.targets[k] = e
			m.setGauge(k, w.color, false)
		} else {
			if old := e.t.Color(); old != w.color {
				m.deleteGauge(k, old)
				m.setGauge(k, w.color, e.t.Healthy())
			}
			e.t.setThresholds(w.rise, w.fall, w.color)
		}
		if e.done == nil || e.spec != w.spec {
			m.start(e, w.spec)
		}
	}
	m.mu.Unlock()

	// Transports no prober uses any more: their probers have stopped above.
	for name, c := range m.clients {
		if clients[name] != c {
			c.tr.CloseIdleConnections()
		}
	}
	m.clients = clients
	return nil
}

// clientFor returns the probe client of s: the current one when its TLS
// settings are unchanged, so that kept probers keep running.
func (m *Monitor) clientFor(s *config.Service) (*svcClient, error) {
	https := false
	for _, c := range config.Colors {
		for _, u := range s.Pool(c).Upstreams {
			https = https || strings.HasPrefix(strings.ToLower(u), "https://")
		}
	}
	var tc *tls.Config
	var tlsKey string
	if https {
		// Built only when used, so that a stale ca_file does not stop checks
		// of a service that has no https:// upstream.
		var err error
		if tc, tlsKey, err = tlsx.UpstreamConfig(s.UpstreamTLS); err != nil {
			return nil, err
		}
	}
	// The key covers the files' contents, so a CA or client certificate
	// rewritten in place gets a new client too — the same rule as the
	// proxy's transports (switchboard).
	if old := m.clients[s.Name]; old != nil && old.https == https && old.tlsKey == tlsKey {
		return old, nil
	}
	client, tr := newProbeClient(tc)
	return &svcClient{https: https, tlsKey: tlsKey, client: client, tr: tr}, nil
}

// wantFor derives one upstream's settings, filling zero fields with the
// documented defaults.
func wantFor(s *config.Service, c config.Color, addr string, client *http.Client) want {
	h := s.Health
	// config.Parse fills every field; a hand-built Service (tests, -demo)
	// may leave one zero, which means config's default.
	w := want{color: c, rise: h.Rise, fall: h.Fall}
	if w.rise <= 0 {
		w.rise = config.DefaultHealthRise
	}
	if w.fall <= 0 {
		w.fall = config.DefaultHealthFall
	}
	sp := probeSpec{interval: h.Interval.D(), timeout: h.Timeout.D(), expect: h.ExpectStatus, host: h.Host, client: client}
	if sp.interval <= 0 {
		sp.interval = config.DefaultHealthInterval
	}
	if sp.timeout <= 0 {
		sp.timeout = config.DefaultHealthTimeout
	}
	if sp.expect == (config.StatusRange{}) {
		sp.expect = config.DefaultHealthExpect
	}
	sp.host = HostHeader(s)
	path := h.Path
	if path == "" {
		path = config.DefaultHealthPath
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	scheme, host, err := config.SplitUpstream(addr)
	if err != nil {
		sp.badAddr = err.Error()
	} else {
		sp.url = scheme + "://" + host + path
	}
	w.spec = sp
	return w
}

// HostHeader is the Host header the checks of s send: health.host, else
// the first of hosts; "" (the address is sent) when that is a "*.suffix"
// pattern, which is no host name. Smoke tests of a deploy send it too.
func HostHeader(s *config.Service) string {
	if s.Health.Host != "" {
		return s.Health.Host
	}
	if len(s.Hosts) > 0 && !strings.HasPrefix(s.Hosts[0], "*") {
		return s.Hosts[0]
	}
	return ""
}

// start launches e's prober with spec. The caller holds m.mu and has
// stopped any earlier prober of e.
func (m *Monitor) start(e *entry, spec probeSpec) {
	ctx, cancel := context.WithCancel(context.Background())
	e.spec, e.cancel, e.done = spec, cancel, make(chan struct{})
	go m.run(ctx, e.t, spec, e.done)
}

// run probes t at once, then every interval (jittered) measured from the
// start of one probe to the start of the next, so that a slow or hung
// upstream is detected within fall×interval+timeout, not fall×(interval+
// timeout). A time.Timer, not a Ticker, lets the jitter vary every round.
func (m *Monitor) run(ctx context.Context, t *Target, spec probeSpec, done chan struct{}) {
	defer close(done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := probe(ctx, &spec)
		end := time.Now()
		if ctx.Err() != nil {
			// Stopped mid-probe: the result says nothing about the upstream.
			return
		}
		t.Record(err, end.Sub(start), end)
		if m.met != nil {
			result := "pass"
			if err != nil {
				result = "fail"
			}
			m.met.HealthChecks.WithLabelValues(t.service, t.Color().String(), result).Inc()
		}
		timer.Reset(max(m.jitter(spec.interval)-end.Sub(start), 0))
	}
}

// Close stops every prober and waits for them, then closes idle probe
// connections. It is idempotent; Sync does nothing afterwards. Targets stay
// readable and Fail still works, but nothing probes them any more.
func (m *Monitor) Close() {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.mu.RLock()
	entries := make([]*entry, 0, len(m.targets))
	for _, e := range m.targets {
		e.cancel()
		entries = append(entries, e)
	}
	m.mu.RUnlock()
	for _, e := range entries {
		<-e.done
	}
	for _, c := range m.clients {
		c.tr.CloseIdleConnections()
	}
}

func (m *Monitor) setGauge(k key, c config.Color, healthy bool) {
	if m.met == nil {
		return
	}
	v := 0.0
	if healthy {
		v = 1
	}
	m.met.UpstreamHealthy.WithLabelValues(k.service, c.String(), k.address).Set(v)
}

// deleteGauge drops the series of an upstream that left (or changed
// colour), so that dashboards do not show a stale 0 or 1 forever.
func (m *Monitor) deleteGauge(k key, c config.Color) {
	if m.met != nil {
		m.met.UpstreamHealthy.DeleteLabelValues(k.service, c.String(), k.address)
	}
}

// targetObserver is the Observer every Target of a Monitor reports to, passive
// failures included: it logs, sets upstream_healthy, then tells the
// caller's Observer.
type targetObserver struct {
	m *Monitor
	t *Target
}

func (o targetObserver) HealthChanged(tr Transition) {
	m := o.m
	k := key{tr.Service, tr.Address}
	m.mu.RLock()
	e := m.targets[k]
	// The colour as of now, not of the transition: Sync moves colours under
	// m.mu, so this cannot recreate the series of the colour it just left.
	c := o.t.Color()
	m.mu.RUnlock()
	if e == nil || e.t != o.t {
		// A passive failure reported by a request still holding a Target
		// that a reload removed: reporting it would resurrect the metric
		// series and tell the switchboard about an upstream it dropped.
		return
	}
	m.setGauge(k, c, tr.To == Up)
	fields := []zap.Field{
		zap.String("service", tr.Service),
		zap.String("color", tr.Color.String()),
		zap.String("upstream", tr.Address),
		zap.Stringer("from", tr.From),
		zap.Bool("passive", tr.Passive),
	}
	if tr.To == Up {
		m.log.Info("upstream up", fields...)
	} else {
		m.log.Warn("upstream down", append(fields, zap.String("error", tr.Err))...)
	}
	if m.obs != nil {
		m.obs.HealthChanged(tr)
	}
}
