package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
)

// Handler is the public http.Handler: it routes every request to the active
// (or, with the preview secret, the idle) colour of its service.
type Handler struct {
	router  *Router
	buffers bufferPool // body copy buffers
	log     *zap.Logger
	access  *zap.Logger // access lines

	trusted   atomic.Pointer[[]netip.Prefix]
	accessLog atomic.Bool

	bodyTimeout atomic.Int64 // time.Duration
	misdirected func()
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Logger receives proxy errors. Nil means no logs.
	Logger *zap.Logger
	// AccessLogger receives the access lines (at info, when AccessLog).
	// Nil means Logger.
	AccessLogger *zap.Logger
	// AccessLog logs one line per request. Default off.
	AccessLog bool
	// TrustedProxies are the peers whose X-Forwarded-* headers are extended
	// instead of replaced. Nil trusts nobody.
	TrustedProxies []netip.Prefix
	// BodyTimeout bounds reading a request body, so that a client
	// trickling its body cannot hold a goroutine or an upstream for ever:
	// a body of up to 64 KiB, buffered before any upstream is dialled,
	// must arrive whole within it; a larger one, which streams to the
	// upstream, may pause no longer than it between two reads. Past it the
	// client gets 408. Zero means 30s.
	BodyTimeout time.Duration
	// Misdirected is called once per request for a host no service
	// serves (answered 421); nil: not counted.
	Misdirected func()
}

// NewHandler returns a handler over router.
func NewHandler(router *Router, o HandlerOptions) *Handler {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.AccessLogger == nil {
		o.AccessLogger = o.Logger
	}
	h := &Handler{router: router, log: o.Logger, access: o.AccessLogger, misdirected: o.Misdirected}
	h.SetBodyTimeout(o.BodyTimeout)
	h.SetTrustedProxies(o.TrustedProxies)
	h.accessLog.Store(o.AccessLog)
	return h
}

// SetTrustedProxies replaces the trusted peers (on reload).
func (h *Handler) SetTrustedProxies(p []netip.Prefix) { h.trusted.Store(&p) }

// SetBodyTimeout replaces HandlerOptions.BodyTimeout (on reload); zero
// means 30s.
func (h *Handler) SetBodyTimeout(d time.Duration) {
	if d == 0 {
		d = 30 * time.Second
	}
	h.bodyTimeout.Store(int64(d))
}

// SetAccessLog turns access logs on or off (on reload).
func (h *Handler) SetAccessLog(on bool) { h.accessLog.Store(on) }

// reqState is what one request keeps on its way through the handler.
type reqState struct {
	svc      *Service
	pool     *Pool
	upstream *Upstream
	body     []byte     // kept for one retry; nil when there is no body
	stream   clientBody // the body when it streams (replay false)
	replay   bool       // the request may be sent again if it was never sent
	status   int
	class    Class
	headers  time.Time           // when the response headers were ready
	conn     connTrace           // the connections it went out on (idle.go)
	cut      bodyWatch           // the upstream's response body (aborted.go)
	w        http.ResponseWriter // while the request is sent: for 1xx answers
	hold1xx  bool                // no 1xx to the client: net/http may be writing its 100 (Got1xx)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	svc := h.router.Lookup(r.Host)
	if svc == nil {
		if h.misdirected != nil {
			h.misdirected()
		}
		http.Error(w, "421 misdirected request: no service for this host", http.StatusMisdirectedRequest)
		return
	}
	// entering covers the moment between loading the snapshot and counting
	// the request in flight, so that "drained" cannot be reported while a
	// request that saw the old colour is about to start on it.
	svc.entering.Add(1)
	snap := svc.snap.Load()
	color, preview := snap.Active, false
	if snap.PreviewHeader != "" {
		if v, ok := r.Header[snap.PreviewHeader]; ok {
			// Always stripped: the secret must never reach an upstream.
			delete(r.Header, snap.PreviewHeader)
			if snap.PreviewSecret != "" && len(v) == 1 && secretEqual(v[0], snap.PreviewSecret) {
				color, preview = color.Other(), true
			}
		}
	}
	idx := color.Index()
	rs := &reqState{svc: svc, pool: snap.Pools[idx], replay: true}
	rs.upstream = rs.pool.pick(nil)

	svc.inflight[idx].Add(1)
	svc.entering.Add(-1)
	defer func() {
		svc.inflight[idx].Add(-1)
		h.finish(r, rs, color, preview, start)
	}()

	if status, msg := refusal(r); status != 0 {
		closeConn(w, r)
		rs.reply(w, status, Class4xx, msg)
		return
	}
	if rs.upstream == nil {
		rs.reply(w, http.StatusServiceUnavailable, ClassError, "503 service unavailable: "+color.String()+" has no upstream")
		return
	}
	stripUpgrade(r)
	timeout := time.Duration(h.bodyTimeout.Load())
	if err := rs.bufferBody(w, r, timeout); err != nil {
		h.clientFailed(w, r, rs, err)
		return
	}
	if badTrailer(r.Trailer) {
		closeConn(w, r)
		rs.reply(w, http.StatusBadRequest, Class4xx, "400 bad request: a trailer field that may not be one")
		return
	}
	if !rs.replay {
		rs.stream = clientBody{body: r.Body, rc: http.NewResponseController(w), timeout: timeout}
		r.Body = &rs.stream
	}
	h.forward(w, r, rs)
}

func (h *Handler) finish(r *http.Request, rs *reqState, color config.Color, preview bool, start time.Time) {
	if rs.class == ClassNone || rs.cut.broken() {
		// The body did not reach the client whole (forward panicked
		// with http.ErrAbortHandler after the headers went out).
		h.cutOff(r, rs)
	}
	end := time.Now()
	// Latency is time to the response headers, as nginx's
	// upstream_header_time: a WebSocket, an event stream or a big download
	// must not read as a slow upstream.
	d := end.Sub(start)
	if !rs.headers.IsZero() {
		d = rs.headers.Sub(start)
	}
	rs.svc.observer.Observe(Outcome{Color: color, Class: rs.class, Status: rs.status, Duration: d, End: end, Preview: preview})
	if !h.accessLog.Load() {
		return
	}
	if ce := h.access.Check(zapcore.InfoLevel, "request"); ce != nil {
		up := ""
		if rs.upstream != nil {
			up = rs.upstream.address
		}
		ce.Write(zap.String("service", rs.svc.name), zap.Stringer("color", color), zap.String("upstream", up),
			zap.String("method", r.Method), zap.String("host", r.Host), zap.String("uri", r.RequestURI),
			zap.Int("status", rs.status), zap.Duration("duration", end.Sub(start)), zap.Duration("upstream_header_time", d), zap.String("remote", r.RemoteAddr),
			zap.Bool("preview", preview), rs.cut.field())
	}
}

// answered records the upstream's answer, before its body is copied.
func (rs *reqState) answered(resp *http.Response) {
	rs.headers = time.Now()
	rs.status = resp.StatusCode
	rs.class = classOf(resp.StatusCode)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
			resp.Body = rs.svc.upgrades[rs.pool.color.Index()].add(rwc, rs.upstream)
		}
		return
	}
	rs.cut.watch(resp)
}

// errorHandler answers for an upstream that could not: 504 on a timeout,
// 502 otherwise, nothing when the client went away.
func (h *Handler) errorHandler(w http.ResponseWriter, r *http.Request, rs *reqState, err error) {
	if cerr := rs.stream.failure(r.Context().Err() != nil); cerr != nil {
		h.clientFailed(w, r, rs, cerr)
		return
	}
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		rs.status, rs.class = 0, ClassCanceled
		return
	}
	// A connect that timed out is an unreachable upstream (502), as
	// docs/operations.md promises; 504 is for an upstream that took the
	// request and did not answer in time.
	status, msg := http.StatusBadGateway, "502 bad gateway: upstream unreachable"
	if isTimeout(err) && !health.DialFailed(err) {
		status, msg = http.StatusGatewayTimeout, "504 gateway timeout: upstream did not answer in time"
	}
	if ce := h.log.Check(zapcore.WarnLevel, "upstream error"); ce != nil {
		if ok, held := rs.svc.errLimit.allow(time.Now()); ok {
			ce.Write(zap.String("service", rs.svc.name), zap.Stringer("color", rs.pool.color),
				zap.String("upstream", rs.upstream.address), zap.Int("status", status), zap.Error(err),
				zap.Bool("stale_connection", rs.conn.stale), zap.Int64("suppressed", held))
		}
	}
	rs.reply(w, status, ClassError, msg)
}

// reply is every answer switchd makes itself instead of the upstream: it
// records the status and class for metrics, the guard and the access log.
func (rs *reqState) reply(w http.ResponseWriter, status int, class Class, msg string) {
	rs.status, rs.class, rs.headers = status, class, time.Now()
	http.Error(w, msg, status)
}
