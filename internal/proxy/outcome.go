package proxy

import (
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Class sorts the result of a proxied request.
type Class uint8

const (
	// ClassNone: no result recorded (should not be observed).
	ClassNone Class = iota
	// Class1xx to Class5xx: the upstream's status (or, for 400/408, a
	// malformed or too slow request body).
	Class1xx
	Class2xx
	Class3xx
	Class4xx
	Class5xx
	// ClassError: switchd answered (502/504/503) because no upstream could,
	// or the upstream's answer broke off after its headers (Status is then
	// the upstream's, as the client got it).
	ClassError
	// ClassCanceled: the client went away before the answer; not an error.
	ClassCanceled
)

var classNames = [...]string{"", "1xx", "2xx", "3xx", "4xx", "5xx", "error", "canceled"}

// String returns "2xx", "error", "canceled" and so on.
func (c Class) String() string { return classNames[c] }

// IsError reports whether the class counts against a colour: the upstream's
// 5xx and what switchd answered because the upstream could not.
func (c Class) IsError() bool { return c == Class5xx || c == ClassError }

func classOf(status int) Class {
	switch {
	case status < 200:
		return Class1xx
	case status < 300:
		return Class2xx
	case status < 400:
		return Class3xx
	case status < 500:
		return Class4xx
	}
	return Class5xx
}

// Outcome is one finished request, as the Observer of its service sees it.
type Outcome struct {
	Color    config.Color
	Class    Class
	Status   int           // sent to the client; 0 when the client went away first
	Duration time.Duration // from arrival to the response headers (to the end when there were none)
	End      time.Time     // when the response ended (saves observers a clock read)
	Preview  bool          // sent to the idle colour through the preview header
}

// Observer receives every finished request of a service. Observe runs on the
// request's goroutine: it must be cheap and must not block.
type Observer interface {
	Observe(Outcome)
}

type nopObserver struct{}

func (nopObserver) Observe(Outcome) {}
