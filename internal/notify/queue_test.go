package notify

import (
	"slices"
	"testing"
)

func TestQueue(t *testing.T) {
	q := newQueue(3)
	if _, ok := q.pop(); ok {
		t.Fatal("pop on an empty queue")
	}
	drops := 0
	for id := uint64(1); id <= 5; id++ {
		drops += q.push(ev(id, "flip"))
	}
	if drops != 2 {
		t.Errorf("dropped %d, want 2", drops)
	}
	select {
	case <-q.ready:
	default:
		t.Error("push left no wake-up")
	}

	// Wrap around: pop one, push one, then drain.
	var got []uint64
	e, _ := q.pop()
	got = append(got, e.ID)
	drops = q.push(ev(6, "flip"))
	for e, ok := q.pop(); ok; e, ok = q.pop() {
		got = append(got, e.ID)
	}
	if drops != 0 || !slices.Equal(got, []uint64{3, 4, 5, 6}) {
		t.Errorf("popped %v with %d drops, want [3 4 5 6] with 0", got, drops)
	}

	q.push(ev(7, "flip"))
	q.push(ev(8, "flip"))
	if n := q.close(); n != 2 {
		t.Errorf("close discarded %d, want 2", n)
	}
	if n := q.close(); n != 0 {
		t.Errorf("second close discarded %d, want 0", n)
	}
	if n := q.push(ev(9, "flip")); n != 1 {
		t.Errorf("push after close dropped %d, want 1", n)
	}
	if _, ok := q.pop(); ok {
		t.Error("pop after close")
	}
}
