package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchd/switchd/control/api"
)

// maxAnswer bounds what switchctl reads of one JSON answer.
const maxAnswer = 8 << 20

// client talks to one switchd control API.
type client struct {
	base  string // URL prefix of every path, "http://switchd" for a unix socket
	addr  string // as the user gave it, for messages
	token string
	actor string // sent as X-Switchd-Actor; "" sends none
	tr    *http.Transport
	hc    *http.Client
	opts  options
}

// newClient understands "http://HOST:PORT", "https://HOST:PORT", a bare
// "HOST:PORT" and "unix:PATH"; files configure https.
func newClient(addr, token string, files tlsFiles, opts options) (*client, error) {
	// A dial that takes longer than this is a host that drops packets;
	// the loopback or LAN address of a control API answers in microseconds.
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// The control API is on this host or reached directly; a proxy
		// from the environment would only get in the way.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        4,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	c := &client{addr: addr, token: strings.TrimSpace(token), tr: tr, hc: &http.Client{Transport: tr}, opts: opts}

	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		if files.any() {
			return nil, fmt.Errorf("--cacert, --cert and --key need an https:// --addr, not %q", addr)
		}
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, fmt.Errorf("bad --addr %q: no socket path", addr)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
		c.base = "http://switchd"
		return c, nil
	}
	s := addr
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bad --addr %q: want http://HOST:PORT, https://HOST:PORT or unix:PATH", addr)
	}
	c.base = strings.TrimSuffix(u.String(), "/")
	if files.any() && u.Scheme != "https" {
		return nil, fmt.Errorf("--cacert, --cert and --key need an https:// --addr, not %q", addr)
	}
	if u.Scheme == "https" {
		if tr.TLSClientConfig, err = files.config(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// close lets the transport's connection goroutines end with the command.
func (c *client) close() { c.tr.CloseIdleConnections() }

// call sends a request with in (if not nil) as its JSON body and returns
// the answer's body; an answer other than 2xx is an *apiError.
func (c *client) call(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	resp, err := c.do(ctx, method, path, body, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, c.apiError(resp, data)
	}
	return data, nil
}

// do sends one request, retrying transient failures, and returns the
// response whatever its status; the caller closes its body.
func (c *client) do(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	// An untyped nil, not a nil []byte, or retryablehttp sends an empty body.
	var raw any
	if body != nil {
		raw = body
	}
	// retryablehttp rebuilds the body from raw before every try, so a
	// retried POST sends it whole again.
	req, err := retryablehttp.NewRequestWithContext(ctx, method, c.base+path, raw)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "switchctl/"+version())
	if method != http.MethodGet && method != http.MethodHead {
		// Always, even without a body (reload): switchd refuses a
		// mutation that is not JSON, which is what a web page's form is.
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actor != "" {
		req.Header.Set("X-Switchd-Actor", c.actor)
	}
	for k, v := range header {
		req.Header[k] = v
	}

	attempts := 0
	first := time.Now()
	rc := &retryablehttp.Client{
		HTTPClient:   c.hc,
		Logger:       nil, // the user sees one final error, not every try
		RetryWaitMin: c.opts.retryWaitMin,
		RetryWaitMax: c.opts.retryWaitMax,
		RetryMax:     c.opts.retryMax,
		Backoff:      backoff,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			attempts++
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if !transient(method, resp, err) {
				return false, nil
			}
			next := backoff(c.opts.retryWaitMin, c.opts.retryWaitMax, attempts-1, resp)
			if err != nil && c.opts.unreachableFor > 0 && time.Since(first)+next > c.opts.unreachableFor {
				return false, nil // no switchd there: say so now
			}
			// Sleeping past the deadline would only turn "unreachable"
			// into "timed out"; give up now with the real reason.
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backoff(c.opts.retryWaitMin, c.opts.retryWaitMax, attempts-1, resp) {
				return false, nil
			}
			return true, nil
		},
		// Hand back the last response when retries run out, so that its
		// status and body make the message.
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return resp, nil
			}
			if resp != nil {
				resp.Body.Close()
			}
			return nil, err
		},
	}
	resp, err := rc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, &transportError{addr: c.addr, attempts: attempts, err: err}
	}
	return resp, nil
}

// transient reports whether a failed try is worth repeating. GETs are
// repeated after any transport failure and after 502/503/504 from a proxy
// in front; a mutation only when it certainly did not reach switchd: the
// connection could not be made, or 503 (switchd refuses work while it
// starts or stops).
func transient(method string, resp *http.Response, err error) bool {
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "remote error" {
			return false // a TLS alert: the server refused our certificate, and will again
		}
		if method == http.MethodGet {
			retry, _ := retryablehttp.DefaultRetryPolicy(context.Background(), nil, err)
			return retry
		}
		return isDialError(err)
	}
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		return true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return method == http.MethodGet
	}
	return false
}

// isDialError is true when no connection was made (refused, or a unix
// socket that is gone while switchd restarts), so nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	var dns *net.DNSError
	return !errors.As(err, &dns) || !dns.IsNotFound
}

// backoff is retryablehttp's exponential backoff with Retry-After capped
// at hi: someone is waiting at a terminal.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	return min(retryablehttp.DefaultBackoff(lo, hi, attempt, resp), hi)
}

// transportError is a request that got no answer, after retries.
type transportError struct {
	addr     string
	attempts int
	err      error
}

func (e *transportError) Error() string {
	// The innermost network error says it best ("dial tcp …: connection
	// refused"); retryablehttp's and url's wrapping repeat the URL.
	cause := e.err
	var op *net.OpError
	var ue *url.Error
	if errors.As(cause, &op) {
		cause = op
	} else if errors.As(cause, &ue) {
		cause = ue.Err
	}
	s := "cannot reach switchd at " + e.addr
	if e.attempts > 1 {
		s += fmt.Sprintf(" (%d tries)", e.attempts)
	}
	return s + ": " + cause.Error()
}

func (e *transportError) Unwrap() error { return e.err }

// apiError is an answer other than 2xx.
type apiError struct {
	status int
	code   string // the error body's code, "" if there was none
	msg    string
	body   []byte // switchd's error body as received; nil when it was not one
}

func (e *apiError) Error() string { return e.msg }

func (c *client) apiError(resp *http.Response, data []byte) *apiError {
	e := &apiError{status: resp.StatusCode}
	var body api.ErrorBody
	if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
		e.code, e.msg, e.body = body.Error.Code, body.Error.Message, data
		return e
	}
	// Not switchd's error body: perhaps a proxy in front answered, or the
	// address is switchd's proxy port, which answers for services.
	e.msg = fmt.Sprintf("%s answered %s", c.addr, resp.Status)
	if s := oneLine(string(data), 200); s != "" && !strings.HasPrefix(s, "<") {
		e.msg += ": " + s
	}
	return e.notControlAPI(c.addr)
}

// notControlAPI adds, to an answer that is not switchd's error JSON, that
// addr is likely not the control API: switchd's proxy answers a Host it
// does not serve with 421, and an upstream behind it anything at all.
func (e *apiError) notControlAPI(addr string) *apiError {
	e.msg += fmt.Sprintf(" — this is not switchd's control API; is %s the proxy port? (--addr, $SWITCHD_ADDR; the control API listens on [control].listen, 127.0.0.1:9180 by default)", addr)
	return e
}

// exitCode maps the answer to switchctl's exit codes (docs/switchctl.md).
func (e *apiError) exitCode() int {
	switch {
	case e.code == api.CodeReverted:
		return exitReverted
	case e.status == http.StatusRequestTimeout || e.code == api.CodeTimeout:
		return exitTimeout
	case e.status == http.StatusUnauthorized, e.status == http.StatusForbidden, e.status == http.StatusConflict:
		return exitRefused
	}
	return exitFailed
}

// trimSubject drops "app: " from the front of a server message when the
// command's subject already names app.
func trimSubject(msg, svc string) string {
	if svc == "" {
		return msg
	}
	if rest, ok := strings.CutPrefix(msg, svc+": "); ok && rest != "" {
		return rest
	}
	return msg
}
