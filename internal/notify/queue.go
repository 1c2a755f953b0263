package notify

import (
	"sync"

	"github.com/switchd/switchd/control/api"
)

// queue is a bounded FIFO of events that never blocks its producer: when it
// is full, push drops the oldest event to make room. A webhook that is slow
// or dead therefore costs the caller of Notify one short critical section,
// never a wait, and the newest events (the current state of things) are the
// ones that survive an outage.
type queue struct {
	// ready has room for one token; push leaves one so that a waiting
	// worker wakes up. A token may be stale: pop is the truth.
	ready chan struct{}

	mu     sync.Mutex
	buf    []api.Event // ring of cap(buf) slots
	head   int         // index of the oldest event
	n      int         // events held
	closed bool
}

func newQueue(size int) *queue {
	return &queue{ready: make(chan struct{}, 1), buf: make([]api.Event, size)}
}

// push appends e. It reports how many events it dropped: 1 when the queue
// was full (its oldest event went), 1 when the queue is closed (e itself
// went), else 0.
func (q *queue) push(e api.Event) (dropped int) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 1
	}
	if q.n == len(q.buf) {
		q.buf[q.head] = api.Event{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		dropped = 1
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
	q.mu.Unlock()

	select {
	case q.ready <- struct{}{}:
	default: // a wake-up is already pending
	}
	return dropped
}

// pop takes the oldest event; ok is false when the queue is empty or closed.
func (q *queue) pop() (e api.Event, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 || q.closed {
		return api.Event{}, false
	}
	e = q.buf[q.head]
	q.buf[q.head] = api.Event{} // let go of Event.OK
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return e, true
}

// close refuses further pushes and discards what is held, returning how
// many events it discarded. Later calls return 0.
func (q *queue) close() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	q.closed = true
	n := q.n
	q.buf, q.head, q.n = nil, 0, 0
	return n
}
