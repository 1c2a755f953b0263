package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

func sse(w http.ResponseWriter, ev api.Event) {
	b, _ := json.Marshal(ev)
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b)
	w.(http.Flusher).Flush()
}

var (
	evFlip = api.Event{ID: 1, Time: ts("2026-11-26T10:00:00Z"), Type: "flip", Service: "app",
		From: "blue", To: "green", Generation: 8, Actor: "deployer", Detail: "deploy 4f2a"}
	evOther  = api.Event{ID: 2, Time: ts("2026-11-26T10:00:01Z"), Type: "flip", Service: "api", From: "green", To: "blue", Generation: 3}
	evReload = api.Event{ID: 3, Time: ts("2026-11-26T10:00:02Z"), Type: "reload", OK: new(true)}
	evHealth = api.Event{ID: 4, Time: ts("2026-11-26T10:00:03Z"), Type: "health", Service: "app",
		Color: "blue", Upstream: "10.0.0.11:8080", State: "down", Detail: "connection refused"}
)

const watchLines = `state app green (generation 7), blue 2/2 up, green 2/2 up
2026-11-26 10:00:00Z  flip app blue → green (generation 8, by deployer): deploy 4f2a
2026-11-26 10:00:02Z  reload ok
2026-11-26 10:00:03Z  health app blue 10.0.0.11:8080 down: connection refused
`

// eventStream serves events 1-3 on the first connection and ends it, as
// switchd does when it restarts; a reconnection must resume after 3 and
// gets event 4, then a stream that stays open until the client leaves.
func eventStream(t *testing.T, done chan<- struct{}) []reply {
	first := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\n\n: hello\n\n")
		for _, ev := range []api.Event{evFlip, evOther, evReload} {
			sse(w, ev)
		}
	}
	second := func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("Last-Event-ID"); id != "3" {
			t.Errorf("reconnected with Last-Event-ID %q, want 3", id)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sse(w, evHealth)
		if done != nil {
			close(done)
		}
		<-r.Context().Done()
	}
	return []reply{{fn: first}, {fn: second}}
}

func TestWatch(t *testing.T) {
	t.Run("ends on timeout", func(t *testing.T) {
		f := newFake(t).on("GET /v1/services/app", jsonReply(200, appService())).on("GET /v1/events", eventStream(t, nil)...)
		start := time.Now()
		res := runCtl(t, f, "watch", "app", "--timeout", "500ms")
		wantErr := "switchctl: watch: the event stream ended; reconnecting to " + f.addr + "\n" +
			"switchctl: watch: reconnected to " + f.addr + " (resuming after event 3)\n"
		if res.code != 0 || res.stdout != watchLines || res.stderr != wantErr {
			t.Errorf("exit %d, stdout:\n%s\nstderr %q", res.code, res.stdout, res.stderr)
		}
		if d := time.Since(start); d < 500*time.Millisecond || d > 3*time.Second {
			t.Errorf("took %s, want about 500ms", d)
		}
		var ids []string
		for _, r := range f.requests() {
			if r.Path == "/v1/events" {
				ids = append(ids, r.LastEventID)
			}
		}
		if !reflect.DeepEqual(ids, []string{"", "3"}) {
			t.Errorf("Last-Event-IDs %q, want one fresh connection and one resumed", ids)
		}
	})

	t.Run("ends on cancel", func(t *testing.T) {
		f := newFake(t).on("GET /v1/services", jsonReply(200, listOf("app", "api"))).on("GET /v1/events", eventStream(t, nil)...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Cancel as soon as the last event is printed, as Ctrl-C would.
		out := &cancelWriter{cancel: cancel, after: `"id":4`}
		var stderr strings.Builder
		code := run(ctx, []string{"--addr", f.addr, "--json", "watch"}, nil, out, &stderr, testOptions)
		if code != 0 || !strings.Contains(stderr.String(), "reconnected") || ctx.Err() != context.Canceled {
			t.Errorf("exit %d, stderr %q, ctx %v", code, stderr.String(), ctx.Err())
		}
		// The state of every service, then one JSON event per line.
		state, events, _ := strings.Cut(out.String(), "\n")
		var st struct {
			Type     string
			Services []api.Service
		}
		if err := json.Unmarshal([]byte(state), &st); err != nil || st.Type != "state" || len(st.Services) != 2 {
			t.Errorf("first line %q (%v), want the state of 2 services", state, err)
		}
		var got []uint64
		for line := range strings.Lines(events) {
			var ev api.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Errorf("line %q: %v", line, err)
			}
			got = append(got, ev.ID)
		}
		if !reflect.DeepEqual(got, []uint64{1, 2, 3, 4}) {
			t.Errorf("events %v, want 1-4", got)
		}
	})

	t.Run("unknown service", func(t *testing.T) {
		f := newFake(t).on("GET /v1/services/nope", errReply(404, api.CodeNotFound, `unknown service "nope"`))
		res := runCtl(t, f, "watch", "nope")
		if res.code != exitFailed || res.stderr != "switchctl: watch nope: unknown service \"nope\"\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})

	t.Run("refused", func(t *testing.T) {
		f := newFake(t).on("GET /v1/services", errReply(401, api.CodeUnauthorized, "missing token")).
			on("GET /v1/events", errReply(401, api.CodeUnauthorized, "missing token"))
		res := runCtl(t, f, "watch")
		if res.code != exitRefused || res.stderr != "switchctl: watch: missing token\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestSSERead(t *testing.T) {
	in := "retry: 1500\r\n" +
		": comment\r\n" +
		"id: 7\r\nevent: flip\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n" +
		"id: 8\n\n" + // an id alone moves the resume point, emits nothing
		"event: health\ndata:{\"b\":2}\nunknown: x\n\n" +
		"id: 9\ndata: cut off"
	type got struct{ typ, data string }
	var events []got
	var st sseState
	err := st.read(strings.NewReader(in), func(typ string, data []byte) error {
		events = append(events, got{typ, string(data)})
		return nil
	})
	want := []got{{"flip", "{\"a\":\n1}"}, {"health", `{"b":2}`}}
	if err != nil || !reflect.DeepEqual(events, want) {
		t.Errorf("events %q (%v), want %q", events, err, want)
	}
	// Event 9 never completed, so a reconnection must ask for it again.
	if st.lastID != "8" || st.retry != 1500*time.Millisecond {
		t.Errorf("lastID %q, retry %s", st.lastID, st.retry)
	}
}

// cancelWriter collects output and calls cancel once it contains after.
type cancelWriter struct {
	strings.Builder
	cancel context.CancelFunc
	after  string
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	n, err := w.Builder.Write(p)
	if strings.Contains(w.String(), w.after) {
		w.cancel()
	}
	return n, err
}
