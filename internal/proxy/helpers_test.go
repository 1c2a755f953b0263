package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is an httptest server that answers with its name and records the
// last request it saw.
func backend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-XFH", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("X-Seen-XFP", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Seen-Preview", strings.Join(r.Header.Values("X-Switchd-Preview"), ","))
		_, _ = io.WriteString(w, name+":"+string(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// upstreams builds upstreams whose health is set by hand: Up unless listed in down.
func upstreams(t *testing.T, addrs []string, st health.State, o TransportOptions) []*Upstream {
	t.Helper()
	var out []*Upstream
	for _, a := range addrs {
		tg := health.NewTarget("svc", a, config.Blue, 1, 1, nil)
		switch st {
		case health.Up:
			tg.Record(nil, time.Millisecond, time.Now())
		case health.Down:
			tg.Record(io.EOF, time.Millisecond, time.Now())
		}
		u, err := NewUpstream(a, tg, o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
		t.Cleanup(u.CloseIdle)
	}
	return out
}

type fixture struct {
	svc     *Service
	handler *Handler
	front   *httptest.Server
	obs     *recordingObserver
}

// newFixture routes every host to one service with the given pools; blue active.
func newFixture(t *testing.T, blue, green []*Upstream, mutate func(*Snapshot), hopts HandlerOptions) *fixture {
	t.Helper()
	snap := &Snapshot{Active: config.Blue, Generation: 1, PreviewHeader: "X-Switchd-Preview",
		Pools: [2]*Pool{NewPool(config.Blue, blue), NewPool(config.Green, green)}}
	if mutate != nil {
		mutate(snap)
	}
	obs := &recordingObserver{ch: make(chan Outcome, 1024)}
	svc := NewService("svc", snap, obs)
	svc.Publish(snap)
	h := NewHandler(NewRouter([]Route{{Service: svc}}), hopts)
	front := httptest.NewServer(h)
	t.Cleanup(func() { front.Close(); svc.Close() })
	return &fixture{svc: svc, handler: h, front: front, obs: obs}
}

type recordingObserver struct{ ch chan Outcome }

func (r *recordingObserver) Observe(o Outcome) {
	select {
	case r.ch <- o:
	default:
	}
}

func (r *recordingObserver) next(t *testing.T) Outcome {
	t.Helper()
	select {
	case o := <-r.ch:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("no outcome observed")
	}
	return Outcome{}
}

func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
