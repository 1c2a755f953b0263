package control

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// Long-poll bounds: a client that wants longer asks again.
const (
	defaultWait = 60 * time.Second
	maxWait     = 10 * time.Minute
	pollEvery   = 25 * time.Millisecond
)

// wait answers GET /v1/services/{name}/wait?until=…&timeout=…: 200 when the
// condition holds, 409 reverted when the guard reverted (stable), 408 on
// timeout.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	until := r.URL.Query().Get("until")
	cond, err := s.condition(v.Config.Name, until)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	timeout := defaultWait
	if t := r.URL.Query().Get("timeout"); t != "" {
		if timeout, err = time.ParseDuration(t); err != nil || timeout <= 0 {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("timeout: bad duration %q", t))
			return
		}
	}
	timeout = min(timeout, maxWait)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	name := v.Config.Name
	for {
		// The name is kept outside: a View that is not ok is empty.
		v, ok := s.o.Board.View(name)
		if !ok {
			writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("service %q was removed", name))
			return
		}
		switch verdict, msg := cond(v); verdict {
		case reached:
			writeJSON(w, http.StatusOK, WaitResult{Reached: until, Service: s.status(v)})
			return
		case failed:
			writeError(w, http.StatusConflict, CodeReverted, msg)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline.C:
			_, why := cond(v)
			writeError(w, http.StatusRequestTimeout, CodeTimeout, fmt.Sprintf("%s: %s not reached in time (%s)", v.Config.Name, until, why))
			return
		case <-tick.C:
		}
	}
}

type verdict int

const (
	pending verdict = iota
	reached
	failed
)

type condFunc func(switchboard.View) (verdict, string)

func (s *Server) condition(name, until string) (condFunc, error) {
	kind, arg, _ := strings.Cut(until, ":")
	switch kind {
	case api.UntilHealthy, api.UntilDrained:
		c, err := config.ParseColor(arg)
		if err != nil {
			return nil, fmt.Errorf("until: %v", err)
		}
		if kind == api.UntilHealthy {
			return func(v switchboard.View) (verdict, string) {
				up, _, total := v.Service.Snapshot().Pool(c).Counts()
				need := v.Config.Health.MinHealthy.Need(total)
				if total > 0 && up >= need {
					return reached, ""
				}
				if total == 0 {
					return pending, fmt.Sprintf("%s has no upstreams", c)
				}
				return pending, fmt.Sprintf("%s: %d of %d upstreams healthy, %d needed", c, up, total, need)
			}, nil
		}
		return func(v switchboard.View) (verdict, string) {
			n := v.Service.Inflight(c)
			switch {
			case v.Record.Active == c:
				return pending, fmt.Sprintf("%s is the active colour", c)
			case n > 0:
				return pending, fmt.Sprintf("%s: %d requests in flight", c, n)
			case !v.Service.Drained(c):
				return pending, fmt.Sprintf("%s: a request is starting", c)
			}
			return reached, ""
		}, nil
	case api.UntilStable:
		if arg != "" {
			break
		}
		if s.o.Guard == nil {
			return nil, fmt.Errorf("until: stable needs the guard")
		}
		return func(v switchboard.View) (verdict, string) {
			switch s.o.Guard.Stability(name) {
			case api.WatchStable:
				return reached, ""
			case api.WatchReverted:
				g := s.o.Guard.Status(name)
				msg := fmt.Sprintf("%s: the guard reverted to %s", name, v.Record.Active)
				if g != nil && g.LastTrip != nil {
					msg += ": " + g.LastTrip.Detail
				}
				return failed, msg
			}
			if g := s.o.Guard.Status(name); g != nil && g.ArmedUntil != nil {
				return pending, fmt.Sprintf("the guard watches %s until %s", v.Record.Active, g.ArmedUntil.Format(time.RFC3339))
			}
			return pending, fmt.Sprintf("the guard watches %s", v.Record.Active)
		}, nil
	}
	return nil, fmt.Errorf("until: want healthy:COLOR, drained:COLOR or stable, not %q", until)
}
