package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// servicePath is the API path of one service, plus suffix ("/flip").
func servicePath(name, suffix string) string {
	return "/v1/services/" + url.PathEscape(name) + suffix
}

// resolve returns the named service, or the only configured one when none
// is named.
func (r *runner) resolve(ctx context.Context, named string) (string, error) {
	if named != "" {
		r.setService(named)
		return named, nil
	}
	var list api.ServiceList
	if err := r.get(ctx, "/v1/services", &list); err != nil {
		return "", err
	}
	switch len(list.Services) {
	case 0:
		return "", &exitError{exitFailed, "no services configured"}
	case 1:
		r.setService(list.Services[0].Name)
		return list.Services[0].Name, nil
	}
	names := make([]string, len(list.Services))
	for i, s := range list.Services {
		names[i] = s.Name
	}
	return "", &exitError{exitUsage, fmt.Sprintf("several services configured (%s): name one", strings.Join(names, ", "))}
}

// get fetches path into out and returns the raw answer too.
func (r *runner) get(ctx context.Context, path string, out any) error {
	_, err := r.fetch(ctx, http.MethodGet, path, nil, out)
	return err
}

// fetch sends a request, decodes a 2xx answer into out and returns its raw
// JSON for --json.
func (r *runner) fetch(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	data, err := r.c.call(ctx, method, path, in)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A 2xx that is not JSON comes from something else than switchd,
		// most likely an upstream behind switchd's proxy port.
		e := &apiError{status: http.StatusOK, msg: fmt.Sprintf("unexpected answer from %s %s: %v", method, path, err)}
		return nil, e.notControlAPI(r.c.addr)
	}
	return data, nil
}

// printJSON writes an answer as received, indented for reading.
func (r *runner) printJSON(data []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, data, "", "  ") != nil {
		buf.Reset()
		buf.Write(bytes.TrimSpace(data))
	}
	buf.WriteByte('\n')
	r.stdout.Write(jsonSafe(buf.Bytes()))
}

// println prints one line of human output, sanitized.
func (r *runner) println(line string) {
	fmt.Fprintln(r.stdout, sanitize(line))
}

func (r *runner) status(ctx context.Context) error {
	if len(r.inv.args) == 0 {
		var list api.ServiceList
		data, err := r.fetch(ctx, http.MethodGet, "/v1/services", nil, &list)
		if err != nil {
			return err
		}
		if r.inv.json {
			r.printJSON(data)
			return nil
		}
		writeServices(r.stdout, list.Services)
		writeUnsaved(r.stdout, list.Services)
		writeDaemonStatus(r.stdout, list.Switchd, time.Now())
		return nil
	}
	name := r.inv.args[0]
	r.setService(name)
	var s api.Service
	data, err := r.fetch(ctx, http.MethodGet, servicePath(name, ""), nil, &s)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	writeServices(r.stdout, []api.Service{s})
	writeUpstreams(r.stdout, s)
	if s.Guard != nil {
		r.println(guardLine(s.Guard, time.Now()))
	}
	writeUnsaved(r.stdout, []api.Service{s})
	return nil
}

// change runs flip, set (POST activate) and rollback, and --wait-stable.
func (r *runner) change(ctx context.Context) error {
	args, f := r.inv.args, r.inv.change
	req := api.ChangeRequest{
		Expect:           f.expect,
		ExpectGeneration: f.expectGen.v,
		Force:            f.force,
		Reason:           f.reason,
	}
	verb := r.inv.cmd
	var named string
	switch verb {
	case "set":
		verb = "activate"
		req.Color = args[len(args)-1]
		if len(args) == 2 {
			named = args[0]
		}
	default:
		if len(args) == 1 {
			named = args[0]
		}
	}
	name, err := r.resolve(ctx, named)
	if err != nil {
		return err
	}
	var res api.ChangeResult
	cctx, cancel := r.stepContext(ctx, defaultTimeout)
	changeJSON, err := r.fetch(cctx, http.MethodPost, servicePath(name, "/"+verb), req, &res)
	cancel()
	if err != nil {
		return err
	}
	if f.waitFleet {
		if err := r.waitFleet(ctx, name, res.Service.Generation); err != nil {
			return err
		}
	}
	if !f.waitStable {
		if r.inv.json {
			r.printJSON(changeJSON)
		} else {
			r.println(formatChange(name, res))
		}
		return nil
	}

	// Say what happened before the wait, which may take a minute.
	if !r.inv.json {
		r.println(formatChange(name, res))
	}
	wctx, cancel := r.stepContext(ctx, stableTimeout(res.Service, time.Now()))
	defer cancel()
	waitJSON, w, err := r.waitUntil(wctx, name, api.UntilStable)
	if err != nil {
		return err
	}
	if r.inv.json {
		// One JSON document on stdout, so that it parses as one.
		r.printJSON(fmt.Appendf(nil, `{"change":%s,"wait":%s}`, bytes.TrimSpace(changeJSON), bytes.TrimSpace(waitJSON)))
		return nil
	}
	r.println(formatReached(name, api.UntilStable, w))
	return nil
}

func (r *runner) wait(ctx context.Context) error {
	named, until, _ := waitArgs(r.inv.args) // checked by parseArgs
	name, err := r.resolve(ctx, named)
	if err != nil {
		return err
	}
	data, w, err := r.waitUntil(ctx, name, until)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	r.println(formatReached(name, until, w))
	return nil
}

// waitUntil long-polls until the condition holds. The server caps one poll
// below what we may have asked for and answers 408 then; while our own
// deadline has not passed, we ask again.
func (r *runner) waitUntil(ctx context.Context, name, until string) ([]byte, api.WaitResult, error) {
	deadline, hasDeadline := ctx.Deadline()
	// lastTimeout is the server's latest 408, which says what is missing
	// and so makes a better message than our own deadline.
	var lastTimeout error
	for {
		q := url.Values{"until": {until}}
		if hasDeadline {
			// Ask for a little less than we have, so that the server's
			// 408 comes before our own deadline cuts the request.
			left := time.Until(deadline)
			ask := (left - min(left/10, 250*time.Millisecond)).Round(time.Millisecond)
			if ask < time.Millisecond {
				// Not worth a request, and "0s" may mean "the server's
				// default" to the server.
				if lastTimeout == nil {
					<-ctx.Done()
					lastTimeout = context.Cause(ctx)
				}
				return nil, api.WaitResult{}, lastTimeout
			}
			q.Set("timeout", ask.String())
		}
		start := time.Now()
		var w api.WaitResult
		data, err := r.fetch(ctx, http.MethodGet, servicePath(name, "/wait")+"?"+q.Encode(), nil, &w)
		if err == nil {
			return data, w, nil
		}
		var ae *apiError
		if !errors.As(err, &ae) || ae.exitCode() != exitTimeout {
			return nil, w, err
		}
		lastTimeout = err
		if pause := r.opts.waitPause - time.Since(start); pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, w, err
			case <-t.C:
			}
		}
	}
}

func (r *runner) reload(ctx context.Context) error {
	// switchd answers a failed reload with an error status, which fetch
	// reports; a 200 always means the configuration was loaded.
	var res struct {
		OK bool `json:"ok"`
	}
	data, err := r.fetch(ctx, http.MethodPost, "/v1/reload", nil, &res)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	r.println("configuration reloaded")
	return nil
}

// upgrade asks switchd to start the binary on disk and hand over to it; it
// returns once the new process serves, or with the reason it did not start
// (the running one then serves on).
func (r *runner) upgrade(ctx context.Context) error {
	var res struct {
		OK bool `json:"ok"`
	}
	data, err := r.fetch(ctx, http.MethodPost, "/v1/upgrade", nil, &res)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	fmt.Fprintln(r.stdout, "upgraded: the new process serves; the old one drains its connections")
	return nil
}

// logLevel shows the daemon's log level, or sets it (admin token).
func (r *runner) logLevel(ctx context.Context) error {
	method, body := http.MethodGet, any(nil)
	if len(r.inv.args) == 1 {
		method, body = http.MethodPut, api.LogLevel{Level: r.inv.args[0]}
	}
	var res api.LogLevel
	data, err := r.fetch(ctx, method, "/v1/log/level", body, &res)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	r.println("log level: " + res.Level)
	return nil
}

// health asks /healthz, which needs no token: a container's HEALTHCHECK
// (distroless has no shell or curl) runs it.
func (r *runner) health(ctx context.Context) error {
	var h api.Health
	data, err := r.fetch(ctx, http.MethodGet, "/healthz", nil, &h)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	r.println(fmt.Sprintf("switchd %s: %s (pid %d)", h.Version, h.Status, h.PID))
	return nil
}
