package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/switchd/switchd/internal/config"
)

const (
	// maxProbeBody bounds how much of a check's response body is read: a
	// health page is small, and an upstream that streams must not make the
	// checker read forever (Caddy reads through io.LimitReader likewise).
	maxProbeBody = 64 << 10
	// userAgent lets upstream logs tell checks from users.
	userAgent = "switchd-health/1"
	// probeIdleTimeout closes a kept-alive probe connection that was not
	// reused: with the default 1s interval it never fires, with long
	// intervals the upstream is not left holding an idle socket.
	probeIdleTimeout = 30 * time.Second
)

// probeSpec is everything one target's prober needs. It is comparable: a
// reload that produces an equal spec leaves the prober running.
type probeSpec struct {
	url      string // scheme://address/path; "" when badAddr is set
	badAddr  string // why the upstream string cannot be probed
	host     string // Host header; "" keeps the address
	interval time.Duration
	timeout  time.Duration
	expect   config.StatusRange
	client   *http.Client // the service's; a new one restarts the prober
}

// newProbeClient returns the HTTP client for one service's checks. It has
// its own transport so that checks neither share nor disturb the proxy's
// connection pool, and a check's outcome says something about the upstream
// rather than about a pooled connection of live traffic.
func newProbeClient(tc *tls.Config) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		// Checks go straight to the upstream, whatever HTTP_PROXY says.
		Proxy:       nil,
		DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		// Dial, handshake and response are bounded by each probe's context.
		TLSClientConfig:        tc,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        probeIdleTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c := &http.Client{
		Transport: tr,
		// A redirect is the upstream's answer, judged by expect_status;
		// following it would check some other page or host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, tr
}

// probe runs one check and returns nil for a pass. ctx is the prober's; the
// check gets its own timeout below it.
func probe(ctx context.Context, s *probeSpec) error {
	if s.badAddr != "" {
		return errors.New(s.badAddr)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("bad health check url %q", s.url)
	}
	if s.host != "" {
		req.Host = s.host
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return shortError(ctx, err, s.timeout)
	}
	// Reading (up to the limit) lets the connection be reused and catches
	// an upstream that hangs in the middle of its answer.
	_, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	resp.Body.Close()
	if !s.expect.Contains(resp.StatusCode) {
		return fmt.Errorf("status %d, want %s", resp.StatusCode, s.expect)
	}
	if rerr != nil {
		return fmt.Errorf("reading body: %w", shortError(ctx, rerr, s.timeout))
	}
	return nil
}

// probeError is a check failure with a short message for status pages and
// logs; the full error stays reachable through Unwrap.
type probeError struct {
	msg string
	err error
}

func (e *probeError) Error() string { return e.msg }
func (e *probeError) Unwrap() error { return e.err }

// shortError turns net/http's `Get "http://10.0.0.1:8080/healthz": dial tcp
// 10.0.0.1:8080: connect: connection refused` into "connection refused":
// the URL and address are already in the log line and the status entry.
func shortError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if DialFailed(err) {
			return &probeError{fmt.Sprintf("connect timeout after %v", timeout), err}
		}
		return &probeError{fmt.Sprintf("timeout after %v", timeout), err}
	}
	inner := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		inner = ue.Err
	}
	if errno, ok := errors.AsType[syscall.Errno](inner); ok {
		return &probeError{errno.Error(), err} // "connection refused", "connection reset by peer"
	}
	if dns, ok := errors.AsType[*net.DNSError](inner); ok {
		return &probeError{fmt.Sprintf("lookup %s: %s", dns.Name, dns.Err), err}
	}
	if errors.Is(inner, io.EOF) || errors.Is(inner, io.ErrUnexpectedEOF) {
		return &probeError{"connection closed by upstream", err}
	}
	if op, ok := errors.AsType[*net.OpError](inner); ok {
		return &probeError{op.Err.Error(), err}
	}
	return &probeError{inner.Error(), err}
}
