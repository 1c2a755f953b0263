package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
)

const ns = "switchd"

// Classes are the values of the class label of requests_total: the upstream's
// status class, "error" for what switchd answered because the upstream could
// not, and "canceled" for clients that went away before the answer (not an
// error). The order matches proxy.Class minus one.
var Classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "canceled"}

// Reasons are the values of the reason label of flips_total.
var Reasons = api.ChangeReasons

// Metrics holds every collector. Create it with New; the zero value is unusable.
type Metrics struct {
	Registry *prometheus.Registry

	Requests        *prometheus.CounterVec   // service, color, class
	RequestDuration *prometheus.HistogramVec // service, color
	Inflight        *prometheus.GaugeVec     // service, color
	ActiveColor     *prometheus.GaugeVec     // service, color
	Generation      *prometheus.GaugeVec     // service
	Flips           *prometheus.CounterVec   // service, reason
	UpstreamHealthy *prometheus.GaugeVec     // service, color, upstream
	HealthChecks    *prometheus.CounterVec   // service, color, result
	PoolPanic       *prometheus.GaugeVec     // service, color
	GuardTrips      *prometheus.CounterVec   // service
	ReloadOK        prometheus.Gauge
	ReloadTime      prometheus.Gauge
	BuildInfo       *prometheus.GaugeVec // version, goversion
	NotifyDropped   prometheus.Counter
	// StatePersistFailures counts failed writes of state.json (a change's
	// and each retry's), so a full disk shows before a restart loses state.
	StatePersistFailures prometheus.Counter
	// ControlAuthFailures counts failed authentications at the control
	// API by reason (AuthFailureReasons).
	ControlAuthFailures *prometheus.CounterVec // reason
	// TLSCertExpiry is the not-after of the certificate the https listener
	// would serve for each configured host; 0 while there is none.
	TLSCertExpiry *prometheus.GaugeVec // host
	// Misdirected counts requests for a host that no service serves
	// (answered 421): a DNS name or a load balancer pointing at switchd
	// that the config does not know. No host label: clients choose it.
	Misdirected prometheus.Counter
	// StoreUp is 1 while the state store answers (always with the file
	// backend), 0 while etcd cannot be reached.
	StoreUp prometheus.Gauge
	// StoreAppliedGeneration is the generation of each service's record
	// this host applied from the store (its own changes and other hosts').
	StoreAppliedGeneration *prometheus.GaugeVec // service
}

// The values of the reason label of control_auth_failures_total: no token,
// an unknown token, and a source refused (429) for failing too often.
const (
	AuthMissing     = "missing"
	AuthInvalid     = "invalid"
	AuthRateLimited = "rate_limited"
)

// AuthFailureReasons lists every reason label of control_auth_failures_total.
var AuthFailureReasons = [...]string{AuthMissing, AuthInvalid, AuthRateLimited}

// New creates the collectors and registers them, with the Go and process
// collectors, into reg (a fresh registry when reg is nil).
func New(reg *prometheus.Registry, version string) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "Proxied requests by service, colour and status class (error: answered by switchd because the upstream could not)."},
			[]string{"service", "color", "class"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response headers from the upstream.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"service", "color"}),
		Inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "inflight_requests",
			Help: "Requests being proxied now."}, []string{"service", "color"}),
		ActiveColor: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "active_color",
			Help: "1 for the active colour of a service, 0 for the idle one."}, []string{"service", "color"}),
		Generation: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "generation",
			Help: "Changes of the active colour of a service since it was first configured."}, []string{"service"}),
		Flips: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "flips_total",
			Help: "Changes of the active colour by reason."}, []string{"service", "reason"}),
		UpstreamHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "upstream_healthy",
			Help: "1 when the upstream passed its health checks, 0 when down or not yet checked."},
			[]string{"service", "color", "upstream"}),
		HealthChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "health_checks_total",
			Help: "Active health checks by result (pass, fail)."}, []string{"service", "color", "result"}),
		PoolPanic: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "pool_panic",
			Help: "1 when no upstream of the active colour's pool is healthy, so its traffic goes to all of them; an idle colour is never in panic."}, []string{"service", "color"}),
		GuardTrips: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "guard_trips_total",
			Help: "Automatic reverts made by the guard's error or latency trigger."}, []string{"service"}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_successful",
			Help: "1 when the last configuration load succeeded."}),
		ReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load."}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
			Help: "Always 1; labels carry the build."}, []string{"version", "goversion"}),
		NotifyDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "notify_dropped_total",
			Help: "Webhook events not delivered: queue full (oldest dropped), retries exhausted, refused by the webhook, or abandoned at shutdown or reload."}),
		ControlAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "control_auth_failures_total",
			Help: "Failed authentications at the control API: missing or invalid token, or refused for failing too often (rate_limited)."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.Inflight, m.ActiveColor, m.Generation, m.Flips,
		m.UpstreamHealthy, m.HealthChecks, m.PoolPanic, m.GuardTrips, m.ReloadOK, m.ReloadTime, m.BuildInfo, m.NotifyDropped,
		m.ControlAuthFailures, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.StatePersistFailures = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "state_persist_failures_total",
		Help: "Failed writes of state.json: refused changes, automatic reverts held in memory only, and each retry of those (every second)."})
	reg.MustRegister(m.StatePersistFailures)
	m.TLSCertExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "tls_cert_expiry_timestamp_seconds",
		Help: "Unix time when the certificate served for a configured host expires; 0 while there is none (acme: not obtained yet)."}, []string{"host"})
	reg.MustRegister(m.TLSCertExpiry)
	m.Misdirected = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "misdirected_requests_total",
		Help: "Requests for a host that no service serves, answered 421 Misdirected Request."})
	reg.MustRegister(m.Misdirected)
	m.StoreUp = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "store_up",
		Help: "1 while the state store answers (always with backend file), 0 while etcd cannot be reached: changes are refused, the last applied state is served."})
	m.StoreAppliedGeneration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "store_applied_generation",
		Help: "Generation of each service's record this host applied from the state store, its own changes and other hosts'."}, []string{"service"})
	reg.MustRegister(m.StoreUp, m.StoreAppliedGeneration)
	m.StoreUp.Set(1)
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	for _, r := range AuthFailureReasons {
		m.ControlAuthFailures.WithLabelValues(r)
	}
	return m
}

// Declare creates every series of the configured services at zero, so that
// dashboards and alerts see them before the first event.
func (m *Metrics) Declare(svcs []config.Service) {
	for i := range svcs {
		s := &svcs[i]
		m.Generation.WithLabelValues(s.Name)
		m.StoreAppliedGeneration.WithLabelValues(s.Name)
		m.GuardTrips.WithLabelValues(s.Name)
		for _, r := range Reasons {
			m.Flips.WithLabelValues(s.Name, r)
		}
		for _, c := range config.Colors {
			cs := c.String()
			m.ActiveColor.WithLabelValues(s.Name, cs)
			m.Inflight.WithLabelValues(s.Name, cs)
			m.PoolPanic.WithLabelValues(s.Name, cs)
			m.RequestDuration.WithLabelValues(s.Name, cs)
			for _, cl := range Classes {
				m.Requests.WithLabelValues(s.Name, cs, cl)
			}
			for _, r := range []string{"pass", "fail"} {
				m.HealthChecks.WithLabelValues(s.Name, cs, r)
			}
			for _, u := range s.Pool(c).Upstreams {
				m.UpstreamHealthy.WithLabelValues(s.Name, cs, u)
			}
		}
	}
}
