package guard

import (
	"fmt"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// trigger is one condition on the active colour's window that calls for a
// revert while the triggers are armed. decide tries them in order, so a new
// trigger is a new value here, not an edit of decide.
type trigger struct {
	// name appears in logs ("error_rate", "p99").
	name string
	// check returns the detail of a revert when the condition holds for the
	// window w of the given length.
	check func(cfg config.Guard, w stats, length time.Duration) (detail string, ok bool)
}

var triggers = []trigger{
	{name: "error_rate", check: func(cfg config.Guard, w stats, length time.Duration) (string, bool) {
		r := rate(w.requests, w.errors)
		if w.errors == 0 || r < cfg.MaxErrorRate {
			return "", false
		}
		return fmt.Sprintf("error rate %.3g >= %.3g over %s (%d of %d requests)",
			r, cfg.MaxErrorRate, length, w.errors, w.requests), true
	}},
	{name: "p99", check: func(cfg config.Guard, w stats, length time.Duration) (string, bool) {
		limit := cfg.MaxP99.D()
		if limit <= 0 || w.p99 < limit {
			return "", false
		}
		return fmt.Sprintf("p99 latency %s >= %s over %s (%d requests)",
			w.p99.Round(time.Millisecond), limit, length, w.requests), true
	}},
}

func rate(req, errs int64) float64 {
	if req <= 0 {
		return 0
	}
	return float64(errs) / float64(req)
}
