package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// Contains reports whether code lies in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Min && code <= r.Max }

// String returns "200-399", or "200" for a one-code range.
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// UnmarshalText parses "200-399" or "204".
func (r *StatusRange) UnmarshalText(b []byte) error {
	s := string(b)
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	min, err1 := strconv.Atoi(strings.TrimSpace(lo))
	max, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || min < 100 || max > 599 || min > max {
		return fmt.Errorf("bad status range %q (want e.g. \"200-399\" or \"204\")", s)
	}
	*r = StatusRange{min, max}
	return nil
}

// MarshalText writes the range as String does.
func (r StatusRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// MinHealthy is a count ("2") or a percentage ("50%") of a pool.
type MinHealthy struct {
	Count   int // used when Percent is false
	Percent bool
	Pct     int // 0..100, used when Percent is true
}

// Need returns how many of total upstreams must be healthy. A percentage is
// rounded up, and never asks for fewer than one upstream of a non-empty pool.
func (m MinHealthy) Need(total int) int {
	n := m.Count
	if m.Percent {
		n = (total*m.Pct + 99) / 100
	}
	if n < 1 && total > 0 {
		n = 1
	}
	if n > total {
		n = total
	}
	return n
}

// String returns "2" or "50%".
func (m MinHealthy) String() string {
	if m.Percent {
		return strconv.Itoa(m.Pct) + "%"
	}
	return strconv.Itoa(m.Count)
}

// UnmarshalText parses "2" or "50%".
func (m *MinHealthy) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 100 {
			return fmt.Errorf("bad min_healthy %q (want a count like \"2\" or a percentage like \"50%%\")", s)
		}
		*m = MinHealthy{Percent: true, Pct: v}
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return fmt.Errorf("bad min_healthy %q (want a count like \"2\" or a percentage like \"50%%\")", s)
	}
	*m = MinHealthy{Count: v}
	return nil
}

// MarshalText writes the value as String does.
func (m MinHealthy) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Watch is how long the guard stays armed after a flip: a duration, or
// "always" (Always true).
type Watch struct {
	Always bool
	For    time.Duration
}

// String returns "always" or the duration.
func (w Watch) String() string {
	if w.Always {
		return "always"
	}
	return w.For.String()
}

// UnmarshalText parses "always" or a Go duration.
func (w *Watch) UnmarshalText(b []byte) error {
	if string(b) == "always" {
		*w = Watch{Always: true}
		return nil
	}
	var d Duration
	if err := d.UnmarshalText(b); err != nil {
		return fmt.Errorf("bad watch %q (want a duration like \"10m\" or \"always\")", b)
	}
	*w = Watch{For: d.D()}
	return nil
}

// MarshalText writes the value as String does.
func (w Watch) MarshalText() ([]byte, error) { return []byte(w.String()), nil }
