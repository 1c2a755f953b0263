package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/guard"
	"github.com/switchd/switchd/internal/metrics"
	"github.com/switchd/switchd/internal/proxy"
)

// serviceObserver feeds one service's finished requests to metrics (with
// the series resolved once, not per request) and to the guard.
type serviceObserver struct {
	requests [2][len(metrics.Classes)]prometheus.Counter
	duration [2]prometheus.Observer
	guard    *guard.Service // nil records nothing
}

func newServiceObserver(m *metrics.Metrics, name string, guard *guard.Service) *serviceObserver {
	o := &serviceObserver{guard: guard}
	for _, c := range config.Colors {
		for j, cl := range metrics.Classes {
			o.requests[c.Index()][j] = m.Requests.WithLabelValues(name, c.String(), cl)
		}
		o.duration[c.Index()] = m.RequestDuration.WithLabelValues(name, c.String())
	}
	return o
}

// Observe implements proxy.Observer.
func (o *serviceObserver) Observe(out proxy.Outcome) {
	i := out.Color.Index()
	if out.Class != proxy.ClassNone {
		o.requests[i][out.Class-1].Inc()
	}
	if out.Class != proxy.ClassCanceled {
		o.duration[i].Observe(out.Duration.Seconds())
	}
	if out.Class != proxy.ClassCanceled {
		o.guard.RecordAt(out.Color, out.Class.IsError(), out.Duration, out.End)
	}
}
