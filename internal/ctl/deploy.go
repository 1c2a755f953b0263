package ctl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// stableMargin is added to the guard's watch when --wait-stable has no
// --timeout: the watch ends on the server's clock, and the last long-poll
// must be able to report it.
const stableMargin = 30 * time.Second

// healthMargin is added to the time the checks need to mark a new upstream
// up (rise × interval + timeout) before a deploy gives up on it.
const healthMargin = 5 * time.Second

// deploy runs the whole blue/green deploy: idle pool, healthy, smoke,
// flip, stable. Each step prints one line; a failure names its step, and
// any failure before the flip leaves traffic where it was.
func (r *runner) deploy(ctx context.Context) error {
	var named string
	if len(r.inv.args) == 1 {
		named = r.inv.args[0]
	}
	name, err := r.resolve(ctx, named)
	if err != nil {
		return err
	}
	f := r.inv.deploy
	step := func(s string) { r.subject = "deploy " + name + ": " + s }

	// The moment the deploy starts: nothing may have changed by the flip.
	step("status")
	var s api.Service
	if err := r.get(ctx, servicePath(name, ""), &s); err != nil {
		return err
	}
	idle, active := s.Idle, s.Active
	if idle == "" { // a switchd that does not say
		idle = otherColor(active)
	}
	gen, pv := s.Generation, s.PoolsVersion

	step("pool " + idle)
	var pr api.PoolResult
	reason := f.reasonOr(r.inv.change.reason)
	ups := []string(f.upstreams)
	if err := r.call(ctx, http.MethodPut, servicePath(name, "/pools/"+idle), api.PoolRequest{
		Upstreams: ups, ExpectGeneration: &gen, ExpectPoolsVersion: &pv, Reason: reason}, &pr); err != nil {
		return err
	}
	pv = pr.Service.PoolsVersion
	r.progress(fmt.Sprintf("%s: pool set: %s = %s (was %s active)", name, idle, strings.Join(pr.To, " "), active))

	step("healthy " + idle)
	// Bounded by the checks' own pace even under a long --timeout: an
	// upstream that cannot pass in that time is refused (exit 3), not
	// waited for until the command times out.
	limit := healthLimit(pr.Service.Health)
	hctx, cancel := context.WithTimeoutCause(ctx, limit, &deadlineError{limit})
	_, w, err := r.waitUntil(hctx, name, "healthy:"+idle)
	cancel()
	if err != nil {
		return r.unhealthy(ctx, name, idle, err)
	}
	p := w.Service.Pools[idle]
	r.progress(fmt.Sprintf("%s: healthy %d/%d", name, p.Healthy, p.Total))

	if f.smoke != "" {
		step("smoke " + f.smoke)
		sctx, cancel := r.stepContext(ctx, defaultTimeout)
		err := smoke(sctx, w.Service, pr.To, f.smoke)
		cancel()
		if err != nil {
			return &exitError{exitFailed, err.Error() + "; nothing flipped"}
		}
		r.progress(fmt.Sprintf("%s: smoke %s passed on %d upstream(s)", name, f.smoke, len(pr.To)))
	}
	if f.noFlip {
		r.progress(fmt.Sprintf("%s: not flipped (--no-flip): %s is ready, %s still active", name, idle, active))
		return nil
	}

	step("flip")
	fctx, cancel := r.stepContext(ctx, defaultTimeout)
	var res api.ChangeResult
	err = r.call(fctx, http.MethodPost, servicePath(name, "/flip"), api.ChangeRequest{
		Expect: active, ExpectGeneration: &gen, ExpectPoolsVersion: &pv, Reason: reason}, &res)
	cancel()
	if err != nil {
		return err
	}
	r.progress(fmt.Sprintf("%s: flipped: %s → %s (generation %d)", name, res.From, res.To, res.Service.Generation))
	if !r.inv.change.waitStable {
		return nil
	}
	step("stable")
	wctx, cancel := r.stepContext(ctx, stableTimeout(res.Service, time.Now()))
	defer cancel()
	if _, _, err := r.waitUntil(wctx, name, api.UntilStable); err != nil {
		return err
	}
	r.progress(fmt.Sprintf("%s: stable: the guard's watch ended without a revert", name))
	return nil
}

func (f deployFlags) reasonOr(given string) string {
	if given != "" {
		return given
	}
	return "deploy " + strings.Join(f.upstreams, " ")
}

// call sends in and decodes the answer into out; --json prints nothing
// here: deploy prints one line per step in either mode.
func (r *runner) call(ctx context.Context, method, path string, in, out any) error {
	_, err := r.fetch(ctx, method, path, in, out)
	return err
}

// progress prints one step's line (as JSON lines with --json).
func (r *runner) progress(line string) {
	if r.inv.json {
		r.printJSON(fmt.Appendf(nil, `{"step":%s}`, strconv.Quote(line)))
		return
	}
	r.println(line)
}

// unhealthy turns a health wait that ran out into a refusal (exit 3)
// naming each failing upstream, unless the whole command's deadline ran
// out (exit 5).
func (r *runner) unhealthy(ctx context.Context, name, color string, err error) error {
	var ae *apiError
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ae) && ae.exitCode() == exitTimeout
	if ctx.Err() != nil || !timedOut {
		return err
	}
	var s api.Service
	if gerr := r.get(ctx, servicePath(name, ""), &s); gerr != nil {
		return err
	}
	p := s.Pools[color]
	var bad []string
	for _, u := range p.Upstreams {
		if !u.Healthy {
			why := u.LastError
			if why == "" {
				why = u.State
			}
			bad = append(bad, u.Address+": "+why)
		}
	}
	return &exitError{exitRefused, fmt.Sprintf("%s %d of %d upstreams healthy (%s); nothing flipped",
		color, p.Healthy, p.Total, strings.Join(bad, ", "))}
}

// healthLimit is how long new upstreams get to pass their checks: rise
// passes at the check interval, one timeout, and a margin.
func healthLimit(h *api.HealthSpec) time.Duration {
	if h == nil {
		return defaultWaitTimeout
	}
	ms := float64(max(h.Rise, 1))*h.IntervalMS + h.TimeoutMS
	return time.Duration(ms*float64(time.Millisecond)) + healthMargin
}

// stableTimeout is how long a wait for stable may take after a change:
// the guard's watch (armed_until) plus a margin; 0 (no deadline) for a
// watch that never ends ("always").
func stableTimeout(s api.Service, now time.Time) time.Duration {
	g := s.Guard
	switch {
	case g == nil || !g.Enabled:
		return defaultWaitTimeout
	case g.ArmedAlways:
		return 0
	case g.ArmedUntil != nil:
		return max(g.ArmedUntil.Sub(now), 0) + stableMargin
	}
	return defaultWaitTimeout
}

// stepContext bounds one step by d when no --timeout bounds the command
// (d 0: no bound); under --timeout the command's deadline rules.
func (r *runner) stepContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if !r.phased || d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, &deadlineError{d})
}

// smoke GETs path on every upstream directly (not through switchd), with
// the Host header the health checks send, and wants expect_status.
func smoke(ctx context.Context, s api.Service, ups []string, path string) error {
	h := s.Health
	if h == nil {
		h = &api.HealthSpec{ExpectStatus: "200-399"}
	}
	lo, hi, err := statusRange(h.ExpectStatus)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range ups {
		base := u
		if !strings.Contains(u, "://") {
			base = "http://" + u
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return fmt.Errorf("%s: %v", u, err)
		}
		if h.Host != "" {
			req.Host = h.Host
		}
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("%s: %v", u, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode < lo || resp.StatusCode > hi {
			return fmt.Errorf("%s: GET %s answered %d, want %s", u, path, resp.StatusCode, h.ExpectStatus)
		}
	}
	return nil
}

// statusRange reads "200-399" or "200".
func statusRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("bad expect_status %q", s)
	}
	hi = lo
	if ok {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("bad expect_status %q", s)
		}
	}
	return lo, hi, nil
}

func otherColor(c string) string {
	if c == "blue" {
		return "green"
	}
	return "blue"
}
