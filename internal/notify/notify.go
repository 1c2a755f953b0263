package notify

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
)

// Defaults of Options.
const (
	DefaultQueue        = 256
	DefaultRetryMax     = 4
	DefaultTimeout      = 5 * time.Second
	DefaultRetryWaitMin = 200 * time.Millisecond
	DefaultRetryWaitMax = 5 * time.Second
)

// UserAgent is sent with every webhook request.
const UserAgent = "switchd-notify/1"

// Options tune a Notifier. The zero value is ready to use.
type Options struct {
	// Logger receives a warning when a delivery finally fails and a debug
	// entry per retry. Nil: no logging.
	Logger *zap.Logger
	// Dropped is incremented once per event and webhook that is not
	// delivered: pushed out of a full queue, failed for good (retries
	// exhausted or a non-retryable answer), or abandoned by Close.
	// Nil: not counted.
	Dropped prometheus.Counter
	// Queue is the number of events each webhook holds while it is busy;
	// beyond it the oldest is dropped. Zero or less: DefaultQueue.
	Queue int
	// RetryMax is the number of retries after the first attempt. Zero:
	// DefaultRetryMax; negative: no retries.
	RetryMax int
	// Timeout bounds each attempt, from dialling to reading the answer.
	// Zero or less: DefaultTimeout.
	Timeout time.Duration
	// RetryWaitMin and RetryWaitMax bound the exponential backoff between
	// attempts; a Retry-After header is honoured up to RetryWaitMax. Zero
	// or less: DefaultRetryWaitMin, DefaultRetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	switch {
	case o.RetryMax == 0:
		o.RetryMax = DefaultRetryMax
	case o.RetryMax < 0:
		o.RetryMax = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = DefaultRetryWaitMin
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = DefaultRetryWaitMax
	}
	if o.RetryWaitMax < o.RetryWaitMin {
		o.RetryWaitMax = o.RetryWaitMin
	}
	return o
}

// Notifier fans events out to webhooks. Create it with New and stop it with
// Close. Its methods are safe for concurrent use; a nil *Notifier ignores
// every call, so callers need no "webhooks configured?" check.
type Notifier struct {
	hooks     []*webhook
	transport *http.Transport
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts one delivery goroutine per target. Targets are expected to be
// validated by config; a URL that cannot be requested makes each delivery
// to it fail (logged and counted), not New.
func New(targets []config.Notify, o Options) *Notifier {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{transport: newTransport(), cancel: cancel}
	for i, t := range targets {
		w := newWebhook(i, t, o, n.transport)
		n.hooks = append(n.hooks, w)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			w.run(ctx)
		}()
	}
	return n
}

// newTransport is one connection pool shared by the webhooks. It honours
// HTTPS_PROXY and friends (loopback is never proxied) like the default
// transport, but keeps few idle connections: webhooks are rare.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 16
	t.MaxIdleConnsPerHost = 2
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// Notify hands e to the queue of every webhook whose events include e.Type.
// It never blocks on the network: a full queue drops its oldest event, and
// after Close e is dropped. Both are counted in Options.Dropped.
func (n *Notifier) Notify(e api.Event) {
	if n == nil {
		return
	}
	for _, w := range n.hooks {
		if w.wants(e.Type) {
			w.enqueue(e)
		}
	}
}

// Close stops the delivery goroutines and waits for them: an attempt in
// flight is aborted and the queued events are abandoned, all counted as
// dropped. Close may be called more than once.
func (n *Notifier) Close() {
	if n == nil {
		return
	}
	n.closeOnce.Do(func() {
		n.cancel()
		n.wg.Wait()
		n.transport.CloseIdleConnections()
	})
}

// wants reports whether a webhook listening to events takes type typ;
// empty events means all of them.
func wants(events []string, typ string) bool {
	return len(events) == 0 || slices.Contains(events, typ)
}
