package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"
)

// forward sends r to rs.upstream and copies the answer to w. It does what
// httputil.ReverseProxy did here (switchd used it until 2026-12-04), with
// the same rules for headers, 1xx answers, trailers, flushing and protocol
// switches, but it hands reqState to each step instead of through the
// request's context, and builds the upstream's request once instead of
// cloning it twice: that was a third of the bytes the handler allocated
// per request, and ReverseProxy's frame of ~1 KiB on the stack of every
// request in flight.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, rs *reqState) {
	out, err := h.upstreamRequest(r, rs)
	if err != nil {
		h.errorHandler(w, r, rs, err)
		return
	}
	if out.Body != nil {
		// The upstream client may still read the body when the request
		// ends (a writer goroutine); a read after the handler returns is
		// not allowed, a read after Close is harmless.
		defer out.Body.Close()
	}
	rs.w = w
	// A body that streams, sent with Expect: net/http may write its 100
	// Continue from the body writer's goroutine while the answer is read.
	rs.hold1xx = !rs.replay && httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue")
	res, err := rs.roundTrip(out)
	rs.w = nil
	if err != nil {
		h.errorHandler(w, r, rs, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		rs.answered(res)
		h.switchProtocols(w, r, out, res, rs)
		return
	}
	removeHopByHop(res.Header)
	rs.answered(res)

	dst := w.Header()
	copyHeader(dst, res.Header)
	// The Trailer header is not among the response's headers (the client
	// read it into res.Trailer): announce the trailers again.
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	if _, ok := res.Header["Content-Type"]; !ok {
		// None, as the upstream sent it: net/http would otherwise sniff
		// one from the body, against the upstream's nosniff too.
		dst["Content-Type"] = nil
	}
	w.WriteHeader(res.StatusCode)

	if err := h.copyBody(w, res); err != nil {
		_ = res.Body.Close()
		if r.Context().Value(http.ServerContextKey) == nil {
			return // not under an http.Server, which would recover the panic
		}
		// The status line is out: all that is left is to cut the
		// client's connection, which http.Server does for this panic.
		panic(http.ErrAbortHandler)
	}
	_ = res.Body.Close() // now, so that res.Trailer is filled in
	if len(res.Trailer) > 0 {
		// Chunked, even for a short body: trailers need it.
		_ = http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		copyHeader(dst, res.Trailer)
		return
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

// upstreamRequest is r as the upstream gets it: hop-by-hop headers and the
// client's forwarding headers replaced, addressed to rs.upstream.
func (h *Handler) upstreamRequest(r *http.Request, rs *reqState) (*http.Request, error) {
	upType := upgradeType(r.Header)
	if !isPrint(upType) {
		return nil, errInvalidUpgrade("client", upType)
	}
	out := new(http.Request)
	*out = *r
	u := *r.URL
	u.Scheme, u.Host = rs.upstream.scheme, rs.upstream.host
	// Unparsable query parameters are re-encoded without them, so that
	// the upstream and switchd cannot read the query differently.
	u.RawQuery = cleanQuery(u.RawQuery)
	out.URL = &u
	// out.Host stays the client's Host: upstreams route and build links by it.
	out.Header = upstreamHeader(r.Header, upType)
	out.Trailer = r.Trailer.Clone()
	out.Close = false
	if r.ContentLength == 0 {
		out.Body = nil
	}
	h.setForwarded(r, out)
	return out, nil
}

// Hop-by-hop headers (RFC 9110 §7.6.1), removed on the way through in
// both directions, with any other header the Connection header names.
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forwardingHeaders are the client's, never passed on: setForwarded sets
// its own.
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// Shared values of the headers upstreamHeader sets: read, never changed.
var (
	teTrailers        = []string{"trailers"}
	connectionUpgrade = []string{"Upgrade"}
	noUserAgent       = []string{""}
)

// upstreamHeader is in without hop-by-hop and forwarding headers, asking
// for the protocol switch upType ("" for none), in a new map with room for
// the forwarding headers setForwarded adds. The values are in's own:
// nothing changes them in place.
func upstreamHeader(in http.Header, upType string) http.Header {
	out := make(http.Header, len(in)+4)
	for k, vv := range in {
		out[k] = vv
	}
	removeHopByHop(out)
	// The upstream may send trailers when the client says it takes them.
	if httpguts.HeaderValuesContainsToken(in["Te"], "trailers") {
		out["Te"] = teTrailers
	}
	if upType != "" {
		out["Connection"] = connectionUpgrade
		out["Upgrade"] = []string{upType}
	}
	for _, k := range forwardingHeaders {
		delete(out, k)
	}
	if _, ok := out["User-Agent"]; !ok {
		out["User-Agent"] = noUserAgent // not Go's own
	}
	return out
}

func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// upgradeType is the protocol a request or answer switches to, "" for none.
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// copyHeader adds src's values to dst, sharing src's slices for the keys
// dst does not have (src is an answer nobody changes afterwards).
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior[:len(prior):len(prior)], vv...)
		} else {
			dst[k] = vv
		}
	}
}

// Got1xx passes an informational answer (103 Early Hints) on to the
// client; the upstream client calls it while the request is under way
// (h1.Informational). A 100 Continue is net/http's to send: it answers the
// client's Expect when the body is first read. Nor does any other go out
// while a body that streams may still be read with the client waiting for
// that 100: net/http would write its 100 from the body writer's goroutine
// at the same time. Informational answers may be dropped; the final one
// is what counts.
func (rs *reqState) Got1xx(code int, header http.Header) error {
	if rs.w == nil || code == http.StatusContinue || rs.hold1xx {
		return nil
	}
	removeHopByHop(header)
	h := rs.w.Header()
	copyHeader(h, header)
	rs.w.WriteHeader(code)
	clear(h) // WriteHeader does not clear them after a 1xx
	return nil
}

// copyBody copies the answer's body to the client. An event stream and a
// body of unknown length are flushed after each read, and their headers
// at once; a body of known length goes out when net/http's buffer fills or
// the handler returns. A write error or a read error other than EOF ends
// the copy and is returned.
func (h *Handler) copyBody(w http.ResponseWriter, res *http.Response) error {
	var rc *http.ResponseController
	if res.ContentLength == -1 || isEventStream(res.Header.Get("Content-Type")) {
		rc = http.NewResponseController(w)
		_ = rc.Flush()
	}
	buf := h.buffers.Get()
	defer h.buffers.Put(buf)
	for {
		nr, rerr := res.Body.Read(buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			h.log.Debug("upstream body read error", zap.Error(rerr))
		}
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr != nil {
				return werr
			}
			if nw != nr {
				return io.ErrShortWrite
			}
			if rc != nil {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// isEventStream reports whether a Content-Type is text/event-stream (any
// parameters).
func isEventStream(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// maxQueryParams is net/url's limit on the parameters of a query.
const maxQueryParams = 10000

// cleanQuery is a raw query without the parameters net/url cannot parse
// (a ';' separator, a bad escape), and within maxQueryParams; one that has
// none of them is returned as it is.
func cleanQuery(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	if strings.Count(s, "&")+1 > maxQueryParams {
		return reencode(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isPrint reports whether s is printable ASCII, as a protocol name must be.
func isPrint(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// errInvalidUpgrade is a protocol switch asked for with a name that is not
// printable ASCII.
func errInvalidUpgrade(who, proto string) error {
	return fmt.Errorf("%s tried to switch to invalid protocol %q", who, proto)
}
