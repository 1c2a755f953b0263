package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// watch follows /v1/events until ctx ends (--timeout or a signal), which is
// its normal end. A stream that breaks — switchd restarting, a proxy
// cutting long requests — is re-opened with Last-Event-ID so that nothing
// is missed or repeated; a reconnection that fails through all its retries
// ends watch with 1.
func (r *runner) watch(ctx context.Context) error {
	var svc string
	var now []api.Service
	if len(r.inv.args) == 1 {
		svc = r.inv.args[0]
		r.setService(svc)
		// An unknown name would otherwise print nothing, forever.
		var s api.Service
		if err := r.get(ctx, servicePath(svc, ""), &s); err != nil {
			return r.endWatch(ctx, err)
		}
		now = []api.Service{s}
	} else {
		var list api.ServiceList
		if err := r.get(ctx, "/v1/services", &list); err != nil {
			return r.endWatch(ctx, err)
		}
		now = list.Services
	}
	// Where things stand, so that the events that follow make sense.
	if err := r.printState(now); err != nil {
		return err
	}
	var st sseState
	reconnecting := false
	for {
		header := http.Header{"Accept": {"text/event-stream"}}
		if st.lastID != "" {
			header.Set("Last-Event-ID", st.lastID)
		}
		resp, err := r.c.do(ctx, http.MethodGet, "/v1/events", nil, header)
		if err != nil {
			return r.endWatch(ctx, err)
		}
		if resp.StatusCode/100 != 2 {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
			resp.Body.Close()
			return r.endWatch(ctx, r.c.apiError(resp, data))
		}
		if reconnecting {
			fmt.Fprintf(r.stderr, "switchctl: watch: reconnected to %s%s\n", sanitize(r.c.addr), resumeNote(st.lastID))
		}
		err = st.read(resp.Body, func(typ string, data []byte) error {
			return r.printEvent(svc, typ, data)
		})
		resp.Body.Close()
		if ctx.Err() != nil {
			return nil
		}
		var we *writeError
		if errors.As(err, &we) {
			return err
		}
		delay := r.opts.reconnectDelay
		if st.retry > 0 {
			delay = st.retry
		}
		reason := "the event stream ended"
		if err != nil {
			reason = "the event stream broke: " + err.Error()
		}
		fmt.Fprintf(r.stderr, "switchctl: watch: %s; reconnecting to %s\n", sanitize(reason), sanitize(r.c.addr))
		reconnecting = true
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func resumeNote(id string) string {
	if id == "" {
		return ""
	}
	return " (resuming after event " + oneLine(id, 40) + ")"
}

// printState prints each service's active colour and pools as watch
// starts: "state app green (generation 7), blue 2/2 up, green 2/2 up", or
// with --json one line {"type":"state","services":[…]}.
func (r *runner) printState(list []api.Service) error {
	var err error
	if r.inv.json {
		data, _ := json.Marshal(struct {
			Type     string        `json:"type"`
			Services []api.Service `json:"services"`
		}{"state", list})
		_, err = r.stdout.Write(jsonSafe(append(data, '\n')))
	} else {
		for _, s := range list {
			if _, err = fmt.Fprintln(r.stdout, sanitize(stateLine(s))); err != nil {
				break
			}
		}
	}
	if err != nil {
		return &writeError{err}
	}
	return nil
}

func stateLine(s api.Service) string {
	return fmt.Sprintf("state %s %s (generation %d), blue %s, green %s",
		oneLine(s.Name, 200), cell(s.Active), s.Generation, poolSummary(s, "blue"), poolSummary(s, "green"))
}

// endWatch turns an error into nil when it only says that ctx ended.
func (r *runner) endWatch(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// printEvent prints one event of svc (all when svc is ""). Events of no
// service, such as reloads, concern every service and are always printed.
func (r *runner) printEvent(svc, typ string, data []byte) error {
	var ev api.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		fmt.Fprintf(r.stderr, "switchctl: watch: skipping an event that is not JSON: %s\n", oneLine(string(data), 200))
		return nil
	}
	if svc != "" && ev.Service != "" && ev.Service != svc {
		return nil
	}
	if ev.Type == "" {
		ev.Type = typ
	}
	var err error
	if r.inv.json {
		var buf bytes.Buffer
		if json.Compact(&buf, data) != nil {
			buf.Reset()
			buf.Write(data)
		}
		buf.WriteByte('\n')
		_, err = r.stdout.Write(jsonSafe(buf.Bytes()))
	} else {
		_, err = fmt.Fprintln(r.stdout, sanitize(formatEvent(ev)))
	}
	if err != nil {
		return &writeError{err}
	}
	return nil
}

// writeError is a failure to print, which reconnecting cannot mend.
type writeError struct{ err error }

func (e *writeError) Error() string { return "writing output: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// sseState is what outlives one event stream: the id to resume from and
// the reconnection delay the server asked for.
type sseState struct {
	lastID string
	retry  time.Duration
}

// read parses a text/event-stream (WHATWG HTML, "server-sent events") and
// calls emit for each event with data, until the stream ends or emit
// fails.
func (st *sseState) read(body io.Reader, emit func(typ string, data []byte) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		typ     string
		data    []byte
		hasData bool
		id      = st.lastID
	)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			// The id becomes the one to resume from only once its event is
			// complete; a stream cut mid-event must deliver it again.
			st.lastID = id
			if hasData {
				if err := emit(typ, data); err != nil {
					return err
				}
			}
			typ, data, hasData = "", data[:0], false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment, used as keep-alive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				id = value
			}
		case "event":
			typ = value
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				st.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return sc.Err()
}
