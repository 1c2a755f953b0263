package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"switchd/config"
	"switchd/metrics"
	"switchd/proxy"
)

// recorder is what the guard keeps per service on the request path.
type recorder interface {
	Record(c config.Color, isErr bool, latency float64)
}

// serviceObserver feeds one service's finished requests to metrics (with
// the series resolved once, not per request) and to the guard.
type serviceObserver struct {
	requests [2][len(metrics.Classes)]prometheus.Counter
	duration [2]prometheus.Observer
	guard    func(c config.Color, isErr bool, o proxy.Outcome)
}

func newServiceObserver(m *metrics.Metrics, name string, guard func(config.Color, bool, proxy.Outcome)) *serviceObserver {
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
	if o.guard != nil {
		o.guard(out.Color, out.Class.IsError(), out)
	}
}
