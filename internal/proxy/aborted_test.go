package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/testkit"
)

// accessLog waits for the one access log line of a test's one request: it
// is written after the outcome is observed.
func accessLog(t *testing.T, logs *observer.ObservedLogs) []observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("request").Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	access := logs.FilterMessage("request").All()
	if len(access) != 1 {
		t.Fatalf("%d access log lines, want 1", len(access))
	}
	return access
}

// TestCutOffBodyIsAnError: an upstream that breaks off its body after the
// headers (closing or resetting) makes an error outcome with the status
// the client got, a passive failure, a warn line and an access log entry
// that says the body was aborted by the upstream.
func TestCutOffBodyIsAnError(t *testing.T) {
	for name, cut := range map[string]testkit.Cut{"short content-length": testkit.CutClose, "reset": testkit.CutReset} {
		t.Run(name, func(t *testing.T) {
			up := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "up", Cut: cut})
			ups := upstreams(t, []string{up.Addr}, health.Up, TransportOptions{})
			core, logs := observer.New(zap.InfoLevel)
			f := newFixture(t, ups, nil, nil, HandlerOptions{Logger: zap.New(core), AccessLog: true})
			if _, _, err := testkit.PostOnce(f.front.Client(), f.front.URL, "payload"); err == nil {
				t.Fatal("the client read a whole body from an upstream that cut it off")
			}
			o := f.obs.next(t)
			if o.Class != ClassError || !o.Class.IsError() || o.Status != 200 {
				t.Fatalf("outcome %+v, want class error with the status sent (200)", o)
			}
			if st := ups[0].Health().State(); st != health.Down {
				t.Fatalf("upstream is %s, want down (passive)", st)
			}
			if n := logs.FilterMessage("upstream response cut off after its headers").FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
				t.Fatalf("%d warn lines, want 1; logs %v", n, logs.All())
			}
			access := accessLog(t, logs)
			if m := access[0].ContextMap(); m["status"] != int64(200) || m["aborted"] != "upstream" {
				t.Fatalf("access log %v, want status 200 aborted upstream", m)
			}
		})
	}
}

// TestClientGoneMidBodyIsNotAnError: a client that leaves while the body
// streams is canceled, not an error; the upstream stays up.
func TestClientGoneMidBodyIsNotAnError(t *testing.T) {
	sent := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done() // the rest never comes: the client leaves first
	}))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	core, logs := observer.New(zap.InfoLevel)
	f := newFixture(t, ups, nil, nil, HandlerOptions{Logger: zap.New(core), AccessLog: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.front.URL, nil)
	resp, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-sent
	buf := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	o := f.obs.next(t)
	if o.Class != ClassCanceled || o.Class.IsError() {
		t.Fatalf("outcome %+v, want canceled", o)
	}
	if st := ups[0].Health().State(); st != health.Up {
		t.Fatalf("a client going away marked the upstream %s", st)
	}
	if m := accessLog(t, logs)[0].ContextMap(); m["aborted"] != "client" {
		t.Fatalf("access log %v, want aborted client", m)
	}
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Fatalf("%d warn lines for a client that left", n)
	}
}

// TestCutOffSorts: who broke a body off, from what the watch saw.
func TestCutOffSorts(t *testing.T) {
	for _, c := range []struct {
		name     string
		err      error
		eof      bool
		gone     bool // the client's context is done
		want     Class
		wantBy   abortedBy
		wantDown bool
	}{
		{name: "read to the end", eof: true, want: Class2xx},
		{name: "write to the client failed", want: ClassCanceled, wantBy: abortedByClient},
		{name: "client left, read canceled", err: context.Canceled, gone: true, want: ClassCanceled, wantBy: abortedByClient},
		{name: "client left, read failed after", err: io.ErrUnexpectedEOF, gone: true, want: ClassCanceled, wantBy: abortedByClient},
		{name: "upstream short", err: io.ErrUnexpectedEOF, want: ClassError, wantBy: abortedByUpstream, wantDown: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ups := upstreams(t, []string{"127.0.0.1:1"}, health.Up, TransportOptions{})
			svc := NewService("svc", &Snapshot{Pools: [2]*Pool{NewPool(config.Blue, ups), NewPool(config.Green, nil)}}, nil)
			defer svc.Close()
			h := NewHandler(NewRouter(nil), HandlerOptions{})
			rs := &reqState{svc: svc, pool: svc.Snapshot().Pools[0], upstream: ups[0], status: 200, class: Class2xx}
			rs.cut.watch(&http.Response{Body: io.NopCloser(strings.NewReader(""))})
			rs.cut.err, rs.cut.eof = c.err, c.eof
			ctx, cancel := context.WithCancel(context.Background())
			if c.gone {
				cancel()
			}
			defer cancel()
			r := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
			if rs.cut.broken() {
				h.cutOff(r, rs)
			}
			if rs.class != c.want || rs.cut.by != c.wantBy || rs.status != 200 {
				t.Fatalf("class %s by %d status %d, want %s by %d status 200", rs.class, rs.cut.by, rs.status, c.want, c.wantBy)
			}
			if down := ups[0].Health().State() == health.Down; down != c.wantDown {
				t.Fatalf("upstream down %v, want %v", down, c.wantDown)
			}
		})
	}
}
