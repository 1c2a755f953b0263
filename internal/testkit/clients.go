package testkit

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Clients are n kept-alive HTTP clients sending GET url in a loop: the
// load under which flips, reloads and restarts must lose nothing.
type Clients[T any] struct {
	stop    atomic.Bool
	wg      sync.WaitGroup
	ok, bad atomic.Int64
	mu      sync.Mutex
	errs    []error
}

// StartClients starts them. before runs ahead of each request and its
// result goes to check with the answer (before may be nil); check returns
// nil for a right answer (nil: any 200 is right). A transport error is
// always wrong.
func StartClients[T any](n int, url string, before func() T, check func(T, *http.Response, []byte) error) *Clients[T] {
	c := &Clients[T]{}
	for i := 0; i < n; i++ {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for !c.stop.Load() {
				var token T
				if before != nil {
					token = before()
				}
				resp, err := hc.Get(url)
				if err != nil {
					c.fail(fmt.Errorf("transport error: %w", err))
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case check != nil:
					err = check(token, resp, body)
				case resp.StatusCode != http.StatusOK:
					err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
				}
				if err != nil {
					c.fail(err)
					continue
				}
				c.ok.Add(1)
			}
		}()
	}
	return c
}

func (c *Clients[T]) fail(err error) {
	c.bad.Add(1)
	c.mu.Lock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, err)
	}
	c.mu.Unlock()
}

// OK returns the right answers so far.
func (c *Clients[T]) OK() int64 { return c.ok.Load() }

// Stop stops the clients and returns how many answers were right and
// wrong, with the first (at most 10) errors.
func (c *Clients[T]) Stop() (ok, bad int64, errs []error) {
	c.stop.Store(true)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok.Load(), c.bad.Load(), c.errs
}
