package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.uber.org/zap"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
)

// maxDrain bounds how much of an answer is read so that its connection can
// be reused; webhook answers are not interpreted beyond their status.
const maxDrain = 64 << 10

// webhook is one [[notify]] target: its filter, its queue and the state of
// the one goroutine (run) that delivers from that queue.
type webhook struct {
	index  int      // position in [[notify]], for logs
	url    string   // target; never logged, it often carries a secret
	origin string   // scheme://host[:port] of url, for logs
	events []string // types taken; empty: all
	q      *queue
	client *retryablehttp.Client
	log    *zap.Logger
	drop   func(n int)

	// Touched by run only (retryablehttp calls its hooks on the caller's
	// goroutine): the event being delivered and its attempt number.
	cur     api.Event
	attempt int
}

func newWebhook(index int, t config.Notify, o Options, tr http.RoundTripper) *webhook {
	w := &webhook{
		index:  index,
		url:    t.URL,
		origin: origin(t.URL),
		events: t.Events,
		q:      newQueue(o.Queue),
		log:    o.Logger,
		drop:   func(int) {},
	}
	if c := o.Dropped; c != nil {
		w.drop = func(n int) { c.Add(float64(n)) }
	}
	w.client = &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			// A redirected POST becomes a GET without the event (301, 302,
			// 303), so a redirect is reported as the failure it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:       nil, // we log through zap, in the hooks below
		RetryWaitMin: o.RetryWaitMin,
		RetryWaitMax: o.RetryWaitMax,
		RetryMax:     o.RetryMax,
		RequestLogHook: func(_ retryablehttp.Logger, _ *http.Request, i int) {
			w.attempt = i + 1
		},
		CheckRetry: w.checkRetry,
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			// DefaultBackoff takes Retry-After as it comes; a webhook
			// asking for an hour would stall its queue for an hour.
			return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
		},
		ErrorHandler: giveUp,
	}
	return w
}

func (w *webhook) wants(typ string) bool { return wants(w.events, typ) }

func (w *webhook) enqueue(e api.Event) {
	if n := w.q.push(e); n > 0 {
		w.drop(n)
	}
}

// run delivers queued events, one at a time and in order, until ctx ends;
// then it counts what it leaves behind as dropped.
func (w *webhook) run(ctx context.Context) {
	abandoned := 0
	defer func() {
		abandoned += w.q.close()
		if abandoned > 0 {
			w.drop(abandoned)
			w.log.Warn("webhook events abandoned at close",
				zap.Int("webhook", w.index), zap.String("url", w.origin), zap.Int("events", abandoned))
		}
	}()
	for ctx.Err() == nil {
		e, ok := w.q.pop()
		if !ok {
			select {
			case <-w.q.ready:
			case <-ctx.Done():
			}
			continue
		}
		err := w.deliver(ctx, e)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			abandoned++
		default:
			w.drop(1)
			w.log.Warn("webhook delivery failed",
				zap.Int("webhook", w.index), zap.String("url", w.origin),
				zap.Uint64("event_id", e.ID), zap.String("event_type", e.Type),
				zap.Int("attempts", w.attempt), zap.Error(err))
		}
	}
}

// deliver POSTs e, with retries, and reports why it was not accepted.
func (w *webhook) deliver(ctx context.Context, e api.Event) error {
	w.cur, w.attempt = e, 0
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, w.url, body)
	if err != nil {
		return fmt.Errorf("build request: %w", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("X-Switchd-Event", e.Type)
	// The same event retried carries the same key, so a receiver that saw
	// an attempt whose answer we lost can tell the retry apart.
	req.Header.Set("Idempotency-Key", strconv.FormatUint(e.ID, 10))

	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Not retried: a 4xx (but 429) will not get better by asking again.
		return fmt.Errorf("unexpected status %q", resp.Status)
	}
	return nil
}

// checkRetry is retryablehttp's default policy (connection errors, 429 and
// 5xx but 501), plus a debug entry per retry.
func (w *webhook) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, cerr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if !retry || w.attempt > w.client.RetryMax {
		return retry, cerr
	}
	if ce := w.log.Check(zap.DebugLevel, "webhook attempt failed, retrying"); ce != nil {
		fields := []zap.Field{
			zap.Int("webhook", w.index), zap.String("url", w.origin),
			zap.Uint64("event_id", w.cur.ID), zap.String("event_type", w.cur.Type),
			zap.Int("attempt", w.attempt),
		}
		if err != nil {
			fields = append(fields, zap.Error(stripURL(err)))
		} else {
			fields = append(fields, zap.Int("status", resp.StatusCode))
		}
		ce.Write(fields...)
	}
	return retry, cerr
}

// giveUp is the retryablehttp.ErrorHandler: it closes the last answer and
// says why, without the URL that retryablehttp would put in its message.
func giveUp(resp *http.Response, err error, tries int) (*http.Response, error) {
	if resp != nil {
		drain(resp.Body)
		if err == nil {
			err = fmt.Errorf("unexpected status %q", resp.Status)
		}
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return nil, fmt.Errorf("giving up after %d attempt(s): %w", tries, stripURL(err))
}

// stripURL unwraps a *url.Error, whose message quotes the whole URL: the
// path or query of a webhook URL is often its secret (Slack, Discord).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// origin is what of a webhook URL may be logged.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host
}

func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}
