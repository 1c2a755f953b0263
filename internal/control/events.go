package control

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Broker fans events out to the event stream, webhooks and tests. Publish
// never blocks: a subscriber that falls behind loses its subscription (its
// channel is closed) and, for the SSE stream, reconnects with Last-Event-ID
// to replay from the ring. Create it with NewBroker.
type Broker struct {
	mu     sync.Mutex
	nextID uint64
	ring   []Event // the last len(ring) events, oldest first once full
	start  int
	subs   map[chan Event]struct{}
	closed bool
	now    func() time.Time
}

// ringSize is how many past events a reconnecting client can replay.
const ringSize = 1024

// subBuffer is how far a subscriber may fall behind before it is dropped.
const subBuffer = 256

// NewBroker returns an empty broker.
//
// Ids start at the boot time in microseconds, not at 1, so that they keep
// growing across restarts: a webhook receiver that de-duplicates on the
// Idempotency-Key, or a client resuming with Last-Event-ID, never mistakes a
// new process's event for one it has seen.
func NewBroker() *Broker {
	return &Broker{ring: make([]Event, 0, ringSize), subs: map[chan Event]struct{}{}, now: time.Now,
		nextID: uint64(time.Now().UnixMicro())}
}

// Publish stamps e with the next id and the time (when unset) and hands it
// to every subscriber.
func (b *Broker) Publish(e Event) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	e.ID = b.nextID
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	if len(b.ring) < ringSize {
		b.ring = append(b.ring, e)
	} else {
		b.ring[b.start] = e
		b.start = (b.start + 1) % ringSize
	}
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
	return e
}

// Subscribe returns a channel of the events after id since (0: only new
// ones; the ones still in the ring are replayed first) and a cancel func.
// The channel is closed when the subscriber fell behind or the broker closed.
func (b *Broker) Subscribe(since uint64) (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan Event, subBuffer+ringSize)
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	if since > 0 {
		n := len(b.ring)
		for i := 0; i < n; i++ {
			e := b.ring[(b.start+i)%n]
			if e.ID > since {
				ch <- e
			}
		}
	}
	b.subs[ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}

// heartbeat keeps idle streams alive through proxies and lets a client
// notice a dead server.
const heartbeat = 15 * time.Second

// ServeHTTP streams events as server-sent events: "id", "event", "data".
// ?service=NAME keeps that service's events (and global ones such as reload).
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("Last-Event-ID: bad id %q", v))
			return
		}
		since = n
	}
	service := r.URL.Query().Get("service")
	rc := http.NewResponseController(w)
	ch, cancel := b.Subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": switchd events\n\n")
	_ = rc.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case e, ok := <-ch:
			if !ok {
				return // fell behind or shutting down: the client reconnects
			}
			if service != "" && e.Service != "" && e.Service != service {
				continue
			}
			data, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// Recent returns the last n events still in the ring, newest first.
func (b *Broker) Recent(n int) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, len(b.ring))
	out := make([]Event, 0, n)
	for i := 0; i < n; i++ {
		// The newest is just before start once the ring is full, else last.
		j := (b.start + len(b.ring) - 1 - i) % len(b.ring)
		out = append(out, b.ring[j])
	}
	return out
}
