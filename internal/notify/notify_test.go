package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
)

func TestDelivery(t *testing.T) {
	h := newHook(t, nil)
	n := start(t, []config.Notify{{URL: h.URL + "/hook"}}, fast(Options{}))

	ok := true
	e := api.Event{
		ID: 42, Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Type: "guard",
		Service: "app", From: "green", To: "blue", Generation: 8, Actor: "guard",
		Detail: "error rate 0.31 >= 0.05 over 10s", OK: &ok,
	}
	n.Notify(e)

	got := h.next(t)
	if got.Method != http.MethodPost {
		t.Errorf("method = %q, want POST", got.Method)
	}
	for k, want := range map[string]string{
		"Content-Type":    "application/json",
		"User-Agent":      "switchd-notify/1",
		"X-Switchd-Event": "guard",
		"Idempotency-Key": "42",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	want, _ := json.Marshal(e)
	if !bytes.Equal(got.Body, want) {
		t.Errorf("body = %s, want %s", got.Body, want)
	}
}

func TestFilter(t *testing.T) {
	guardOnly, all := newHook(t, nil), newHook(t, nil)
	n := start(t, []config.Notify{
		{URL: guardOnly.URL, Events: []string{"guard"}},
		{URL: all.URL},
	}, fast(Options{}))

	n.Notify(ev(1, "flip"))
	n.Notify(ev(2, "guard"))

	// Per webhook, events arrive in order: once 2 is in, 1 had its chance.
	if got := ids(guardOnly.until(t, 2)); !slices.Equal(got, []uint64{2}) {
		t.Errorf("events=[guard] received %v, want [2]", got)
	}
	if got := ids(all.until(t, 2)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("events=[] received %v, want [1 2]", got)
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		events []string
		typ    string
		want   bool
	}{
		{nil, "flip", true},
		{[]string{}, "reload", true},
		{[]string{"guard"}, "guard", true},
		{[]string{"guard"}, "flip", false},
		{[]string{"flip", "rollback"}, "rollback", true},
		{[]string{"flip", "rollback"}, "guard_blocked", false},
	} {
		if got := wants(tc.events, tc.typ); got != tc.want {
			t.Errorf("wants(%q, %q) = %v, want %v", tc.events, tc.typ, got, tc.want)
		}
	}
}

// TestRetries sends event 1, answered per attempt from statuses (the last
// one repeating), then event 2, always answered 200: when 2 arrives, the
// worker is done with 1.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		statuses     []int
		retryMax     int
		wantAttempts int
		wantDropped  float64
	}{
		{"503 twice then 200", []int{503, 503, 200}, 4, 3, 0},
		{"429 then 204", []int{429, 204}, 4, 2, 0},
		{"400 is not retried", []int{400}, 4, 1, 1},
		{"404 is not retried", []int{404}, 4, 1, 1},
		{"501 is not retried", []int{501}, 4, 1, 1},
		{"redirect is not followed", []int{302}, 4, 1, 1},
		{"retries exhausted", []int{503}, 2, 3, 1},
		{"no retries", []int{500}, -1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, func(id uint64, attempt int) int {
				if id != 1 {
					return http.StatusOK
				}
				return tc.statuses[min(attempt, len(tc.statuses))-1]
			})
			log, logs := observed()
			dropped := newCounter()
			n := start(t, []config.Notify{{URL: h.URL + "/hook/T0/B0/SECRET?token=SECRET"}},
				fast(Options{Logger: log, Dropped: dropped, RetryMax: tc.retryMax}))

			n.Notify(ev(1, "flip"))
			n.Notify(ev(2, "flip"))
			hs := h.until(t, 2)

			if got := h.attemptsOf(1); got != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tc.wantAttempts)
			}
			delivered := 0
			for _, x := range hs {
				if x.Event.ID == 1 && x.Status/100 == 2 {
					delivered++
				}
			}
			if want := 1 - int(tc.wantDropped); delivered != want {
				t.Errorf("delivered %d times, want %d", delivered, want)
			}
			if got := value(t, dropped); got != tc.wantDropped {
				t.Errorf("dropped = %v, want %v", got, tc.wantDropped)
			}

			if got := logs.FilterMessage("webhook attempt failed, retrying").Len(); got != tc.wantAttempts-1 {
				t.Errorf("%d debug entries for retries, want %d", got, tc.wantAttempts-1)
			}
			failed := logs.FilterMessage("webhook delivery failed").All()
			if len(failed) != int(tc.wantDropped) {
				t.Fatalf("%d warnings, want %d", len(failed), int(tc.wantDropped))
			}
			for _, entry := range failed {
				f := entry.ContextMap()
				if entry.Level != zapcore.WarnLevel || f["event_id"] != uint64(1) || f["event_type"] != "flip" ||
					f["attempts"] != int64(tc.wantAttempts) || f["url"] != h.URL || f["error"] == "" {
					t.Errorf("warning = %v %q %v", entry.Level, entry.Message, f)
				}
			}
			noSecret(t, logs)
		})
	}
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	h := newHook(t, nil)
	url := h.URL + "/hook/SECRET"
	h.Close() // connection refused from now on

	log, logs := observed()
	dropped := newCounter()
	n := start(t, []config.Notify{{URL: url}}, fast(Options{Logger: log, Dropped: dropped, RetryMax: 3}))
	n.Notify(ev(1, "health"))

	eventually(t, "event dropped", func() bool { return value(t, dropped) == 1 })
	failed := logs.FilterMessage("webhook delivery failed").All()
	if len(failed) != 1 || failed[0].ContextMap()["attempts"] != int64(4) {
		t.Errorf("want one warning after 4 attempts, got %v", failed)
	}
	if got := logs.FilterMessage("webhook attempt failed, retrying").Len(); got != 3 {
		t.Errorf("%d debug entries for retries, want 3", got)
	}
	noSecret(t, logs)
}

// noSecret fails when a log entry shows "SECRET", which the tests put in
// the path and query of webhook URLs as Slack and others do.
func noSecret(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	for _, entry := range logs.All() {
		if s := fmt.Sprint(entry.ContextMap()); strings.Contains(s, "SECRET") {
			t.Errorf("log %q shows the URL's secret: %s", entry.Message, s)
		}
	}
}

// A webhook that accepts connections and never answers must cost Notify
// nothing, hold at most its queue, and leave other webhooks alone.
func TestDeadWebhookDoesNotSlowNotify(t *testing.T) {
	const sent, queue = 10000, 16
	healthy := newHook(t, nil)
	dropped := newCounter()
	n := start(t, []config.Notify{
		{URL: deadURL(t)}, // every event
		{URL: healthy.URL, Events: []string{"guard"}},
	}, fast(Options{Dropped: dropped, Queue: queue, Timeout: time.Minute}))

	var guards []uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := uint64(1); id <= sent; id++ {
			typ := "flip"
			if id%1000 == 0 {
				typ = "guard"
			}
			n.Notify(ev(id, typ))
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("Notify of %d events blocked for 2s behind a dead webhook", sent)
	}
	for id := uint64(1000); id <= sent; id += 1000 {
		guards = append(guards, id)
	}

	// The dead webhook holds its queue and perhaps one attempt in flight.
	if got := value(t, dropped); got < sent-queue-1 || got > sent-queue {
		t.Errorf("dropped = %v, want %d or %d", got, sent-queue-1, sent-queue)
	}
	// Meanwhile the healthy one gets every event it asked for.
	if got := ids(healthy.until(t, sent)); !slices.Equal(got, guards) {
		t.Errorf("healthy webhook received %v, want %v", got, guards)
	}
}

func TestDropOldest(t *testing.T) {
	const queue = 4
	release := make(chan struct{})
	h := newHook(t, func(id uint64, _ int) int {
		if id == 1 {
			<-release
		}
		return http.StatusOK
	})
	dropped := newCounter()
	n := start(t, []config.Notify{{URL: h.URL}}, fast(Options{Dropped: dropped, Queue: queue}))

	n.Notify(ev(1, "flip"))
	eventually(t, "worker busy with event 1", func() bool { return h.attemptsOf(1) == 1 })
	for id := uint64(2); id <= 11; id++ {
		n.Notify(ev(id, "flip"))
	}
	if got := value(t, dropped); got != 10-queue {
		t.Errorf("dropped = %v, want %d", got, 10-queue)
	}
	close(release)

	if got := ids(h.until(t, 11)); !slices.Equal(got, []uint64{1, 8, 9, 10, 11}) {
		t.Errorf("delivered %v, want [1 8 9 10 11] (the newest)", got)
	}
}

func TestCloseWithHungWebhook(t *testing.T) {
	srv, started := hungHook(t)
	log, logs := observed()
	dropped := newCounter()
	n := New([]config.Notify{{URL: srv.URL}}, fast(Options{Logger: log, Dropped: dropped, Timeout: time.Minute}))
	for id := uint64(1); id <= 5; id++ {
		n.Notify(ev(id, "flip"))
	}
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("the webhook got no request")
	}

	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked for 2s behind a hung webhook")
	}
	n.Close() // idempotent

	// One aborted in flight, four abandoned in the queue.
	if got := value(t, dropped); got != 5 {
		t.Errorf("dropped = %v, want 5", got)
	}
	if got := logs.FilterMessage("webhook events abandoned at close").All(); len(got) != 1 || got[0].ContextMap()["events"] != int64(5) {
		t.Errorf("abandon warning = %v", got)
	}
	if got := logs.FilterMessage("webhook delivery failed").Len(); got != 0 {
		t.Errorf("%d delivery failures logged for an abort by Close", got)
	}

	n.Notify(ev(6, "flip"))
	if got := value(t, dropped); got != 6 {
		t.Errorf("after Notify on a closed Notifier dropped = %v, want 6", got)
	}

	srv.Close()
	goleak.VerifyNone(t)
}

func TestNil(t *testing.T) {
	var n *Notifier
	n.Notify(ev(1, "flip"))
	n.Close()

	n = New(nil, Options{})
	n.Notify(ev(1, "flip"))
	n.Close()
}

func TestOptionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Options
		want Options
	}{
		{"zero", Options{}, Options{Queue: 256, RetryMax: 4, Timeout: 5 * time.Second,
			RetryWaitMin: 200 * time.Millisecond, RetryWaitMax: 5 * time.Second}},
		{"set", Options{Queue: 8, RetryMax: 1, Timeout: time.Second, RetryWaitMin: time.Second, RetryWaitMax: 2 * time.Second},
			Options{Queue: 8, RetryMax: 1, Timeout: time.Second, RetryWaitMin: time.Second, RetryWaitMax: 2 * time.Second}},
		{"negative", Options{Queue: -1, RetryMax: -1, Timeout: -1, RetryWaitMin: -1, RetryWaitMax: -1},
			Options{Queue: 256, RetryMax: 0, Timeout: 5 * time.Second, RetryWaitMin: 200 * time.Millisecond, RetryWaitMax: 5 * time.Second}},
		{"max below min", Options{RetryWaitMin: 10 * time.Second},
			Options{Queue: 256, RetryMax: 4, Timeout: 5 * time.Second, RetryWaitMin: 10 * time.Second, RetryWaitMax: 10 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			if got.Logger == nil {
				t.Error("Logger is nil")
			}
			got.Logger = nil
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	w := newWebhook(0, config.Notify{URL: "http://127.0.0.1:1/"}, fast(Options{}).withDefaults(), http.DefaultTransport)
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}}}
	if got := w.client.Backoff(w.client.RetryWaitMin, w.client.RetryWaitMax, 1, resp); got != w.client.RetryWaitMax {
		t.Errorf("backoff for Retry-After: 3600 = %s, want %s", got, w.client.RetryWaitMax)
	}
}

func ids(hs []hit) []uint64 {
	var out []uint64
	for _, x := range hs {
		out = append(out, x.Event.ID)
	}
	return out
}
