package daemon

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/metrics"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/tlsx"
)

// metricsListener keeps active_color, generation and flips_total in step
// with the switchboard.
type metricsListener struct{ m *metrics.Metrics }

func (l metricsListener) Changed(c switchboard.Change) {
	for _, col := range config.Colors {
		v := 0.0
		if col == c.To {
			v = 1
		}
		l.m.ActiveColor.WithLabelValues(c.Service, col.String()).Set(v)
	}
	l.m.Generation.WithLabelValues(c.Service).Set(float64(c.Generation))
	if !c.Unsaved {
		l.m.StoreAppliedGeneration.WithLabelValues(c.Service).Set(float64(c.Generation))
	}
	// Another host's change is counted there, so that a sum over the
	// fleet counts each change once.
	if c.Changed && !c.Startup && !c.Remote {
		l.m.Flips.WithLabelValues(c.Service, string(c.Reason)).Inc()
		if c.Reason == switchboard.Guard {
			l.m.GuardTrips.WithLabelValues(c.Service).Inc()
		}
	}
}

// gathererWithSample reads the gauges that are cheaper to sample at scrape
// time than to update per request: in-flight counts and pool panic, and
// the certificates' expiry (read where the handshakes read them, so that
// issuance, renewal and a reload of the files show at once).
// upstream_healthy is the health monitor's, set on every transition.
func gathererWithSample(m *metrics.Metrics, b *switchboard.Board, certs func() []tlsx.Certificate) prometheus.Gatherer {
	expiry := &certExpiry{g: m.TLSCertExpiry, hosts: map[string]bool{}}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		expiry.set(certs())
		for _, name := range b.Names() {
			v, ok := b.View(name)
			if !ok {
				continue
			}
			snap := v.Service.Snapshot()
			for _, c := range config.Colors {
				m.Inflight.WithLabelValues(name, c.String()).Set(float64(v.Service.Inflight(c)))
				panicking := 0.0
				if snap.Panic(c) {
					panicking = 1
				}
				m.PoolPanic.WithLabelValues(name, c.String()).Set(panicking)
			}
		}
		return m.Registry.Gather()
	})
}

// certExpiry keeps tls_cert_expiry_timestamp_seconds to the configured
// hosts: a host a reload removed loses its series.
type certExpiry struct {
	g     *prometheus.GaugeVec
	mu    sync.Mutex // concurrent scrapes
	hosts map[string]bool
}

func (e *certExpiry) set(certs []tlsx.Certificate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := make(map[string]bool, len(certs))
	for _, c := range certs {
		now[c.Host] = true
		v := 0.0
		if !c.NotAfter.IsZero() {
			v = float64(c.NotAfter.Unix())
		}
		e.g.WithLabelValues(c.Host).Set(v)
	}
	for h := range e.hosts {
		if !now[h] {
			e.g.DeleteLabelValues(h)
		}
	}
	e.hosts = now
}
