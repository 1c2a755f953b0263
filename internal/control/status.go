package control

import (
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/switchboard"
)

// status builds the API's view of one service.
func (s *Server) status(v switchboard.View) Service {
	rec := v.Record
	out := Service{
		Name: v.Config.Name, Hosts: v.Config.Hosts, Active: rec.Active.String(), Idle: rec.Active.Other().String(),
		Previous: rec.Previous.String(), PoolsVersion: rec.PoolsVersion,
		Generation: rec.Generation, ChangedAt: rec.ChangedAt, ChangedBy: rec.ChangedBy, Reason: rec.Reason,
		Detail: rec.Detail, Forced: rec.Forced, Pools: map[string]Pool{}, Persisted: &v.Persisted,
	}
	h := v.Config.Health
	out.Health = &HealthSpec{Path: h.Path, Host: health.HostHeader(&v.Config), ExpectStatus: h.ExpectStatus.String(),
		IntervalMS: float64(h.Interval.D().Microseconds()) / 1000, TimeoutMS: float64(h.Timeout.D().Microseconds()) / 1000,
		Rise: h.Rise, Fall: h.Fall, MinHealthy: h.MinHealthy.String()}
	if out.Hosts == nil {
		out.Hosts = []string{}
	}
	snap := v.Service.Snapshot()
	for _, c := range config.Colors {
		p := snap.Pool(c)
		up, _, total := p.Counts()
		pool := Pool{Source: string(v.Source(c)), Upstreams: []Upstream{}, Healthy: up, Total: total, Inflight: v.Service.Inflight(c),
			Upgraded: v.Service.Upgraded(c), Panic: snap.Panic(c)}
		for _, u := range p.Upstreams() {
			st := u.Health().Status()
			pool.Upstreams = append(pool.Upstreams, Upstream{
				Address: u.Address(), Healthy: st.State == health.Up, State: st.State.String(),
				Since: timePtr(st.Since), LastCheck: timePtr(st.LastCheck),
				LastLatencyMS: float64(st.LastLatency.Microseconds()) / 1000, LastError: st.LastError,
				Passes: st.Passes, Fails: st.Fails, Inflight: u.Inflight(),
			})
		}
		out.Pools[c.String()] = pool
	}
	if s.o.Guard != nil {
		out.Guard = s.o.Guard.Status(v.Config.Name)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
