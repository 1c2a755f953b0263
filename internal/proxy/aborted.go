package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// bodyWatch is the upstream's response body as forward copies it to the
// client. It keeps the first read error other than io.EOF: the upstream
// reset or closed the connection before the end of its body (a crash, an
// OOM kill, a short Content-Length). By then the status line is out, so all
// forward can do is cut the client's connection (it panics with
// http.ErrAbortHandler), and modifyResponse has already classed the request
// by its status: without what is kept here, both an upstream that died and
// a client that left mid-body would count as the upstream's 2xx. It lives
// inside reqState, so watching costs no allocation.
type bodyWatch struct {
	io.ReadCloser
	err error
	// eof: the body was read to its end. forward reads until an
	// error, so a watched body without it and without err was left
	// because writing to the client failed.
	eof bool
	by  abortedBy // set by cutOff
}

// abortedBy says who cut a response body short, for the access log.
type abortedBy uint8

const (
	notAborted abortedBy = iota
	abortedByUpstream
	abortedByClient
)

// watch puts b between resp and forward. Only forward's goroutine
// reads the body, and finish runs on it too: no lock.
func (b *bodyWatch) watch(resp *http.Response) {
	if resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	b.ReadCloser = resp.Body
	resp.Body = b
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

// broken reports whether a watched body did not reach the client whole.
func (b *bodyWatch) broken() bool { return b.ReadCloser != nil && !b.eof }

// field is the access log's "aborted": "upstream" or "client" when the
// body was cut short after the status went out, absent otherwise.
func (b *bodyWatch) field() zap.Field {
	switch b.by {
	case abortedByUpstream:
		return zap.String("aborted", "upstream")
	case abortedByClient:
		return zap.String("aborted", "client")
	}
	return zap.Skip()
}

// cutOff sorts a response whose body did not reach the client whole. A read
// error on the upstream's body is the upstream's failure: an error for
// metrics and the guard, a passive health failure of that upstream, and a
// warn line. A client that went away (its context is done, or only the
// write to it failed) is not an error. The status stays what the client
// got: the upstream's.
func (h *Handler) cutOff(r *http.Request, rs *reqState) {
	err := rs.cut.err
	if err == nil || r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		rs.class, rs.cut.by = ClassCanceled, abortedByClient
		return
	}
	rs.class, rs.cut.by = ClassError, abortedByUpstream
	rs.upstream.health.Fail(err)
	if ce := h.log.Check(zapcore.WarnLevel, "upstream response cut off after its headers"); ce != nil {
		if ok, held := rs.svc.errLimit.allow(time.Now()); ok {
			ce.Write(zap.String("service", rs.svc.name), zap.Stringer("color", rs.pool.color),
				zap.String("upstream", rs.upstream.address), zap.Int("status", rs.status), zap.Error(err),
				zap.Int64("suppressed", held))
		}
	}
}
