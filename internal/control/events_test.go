package control

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBrokerReplayAndDrop(t *testing.T) {
	b := NewBroker()
	var ids []uint64
	for i := 0; i < 3; i++ {
		ids = append(ids, b.Publish(Event{Type: "flip", Service: "app"}).ID)
	}
	if ids[0] < uint64(time.Now().Add(-time.Minute).UnixMicro()) || ids[1] != ids[0]+1 || ids[2] != ids[1]+1 {
		t.Fatalf("ids %v: want consecutive, starting at the boot time", ids)
	}
	ch, cancel := b.Subscribe(ids[0]) // replay the second and third
	defer cancel()
	for _, want := range ids[1:] {
		if e := <-ch; e.ID != want {
			t.Fatalf("replayed id %d, want %d", e.ID, want)
		}
	}
	// A subscriber that never reads is dropped instead of blocking Publish.
	slow, cancelSlow := b.Subscribe(0)
	defer cancelSlow()
	done := make(chan struct{})
	go func() {
		for i := 0; i < subBuffer+ringSize+10; i++ {
			b.Publish(Event{Type: "health"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	n := 0
	for range slow {
		n++
	}
	if n == 0 || n > subBuffer+ringSize {
		t.Fatalf("slow subscriber got %d events before being dropped", n)
	}
}

func TestEventStream(t *testing.T) {
	b := NewBroker()
	srv := httptest.NewServer(b)
	defer srv.Close()
	defer b.Close()
	first := b.Publish(Event{Type: "flip", Service: "app", From: "blue", To: "green", Generation: 1}).ID

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"?service=app", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatUint(first, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.Publish(Event{Type: "flip", Service: "other"}) // filtered out
		b.Publish(Event{Type: "guard", Service: "app", From: "green", To: "blue", Detail: "error rate 0.5"})
	}()
	sc := bufio.NewScanner(resp.Body)
	var got []Event
	var id, typ string
	for sc.Scan() && len(got) < 1 {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			var e Event
			if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
				t.Fatal(err)
			}
			if typ != e.Type || id == "" {
				t.Fatalf("event line %q / data %+v", typ, e)
			}
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0].Type != "guard" || got[0].ID != first+2 || got[0].Time.IsZero() {
		t.Fatalf("stream gave %+v", got)
	}
}

func TestEventStreamBadLastEventID(t *testing.T) {
	b := NewBroker()
	defer b.Close()
	srv := httptest.NewServer(b)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Last-Event-ID", "yesterday")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `Last-Event-ID: bad id \"yesterday\"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
