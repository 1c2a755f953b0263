package control

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestAuthFailuresRateLimited: after failBurst bad tokens from one source
// the next request is 429 with Retry-After, even with a good token, each
// failure is counted by reason, and /healthz stays open. Time is the
// limiter's own clock, frozen, so that the machine's speed plays no part.
func TestAuthFailuresRateLimited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	good, _ := AddToken(file, "viewer", RoleRead)
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	f := newFixture(t, fixtureOptions{tokens: toks, edit: func(o *Options) {
		o.AuthFailed = func(reason string) { mu.Lock(); counts[reason]++; mu.Unlock() }
	}})
	now := time.Unix(1_800_000_000, 0)
	f.api.now = func() time.Time { return now }
	bad := []string{"Authorization", "Bearer swd_guess"}
	for i := range failBurst {
		if code, body := f.do(t, "GET", "/v1/services", "", bad...); code != 401 {
			t.Fatalf("bad token %d: %d %s", i+1, code, body)
		}
	}
	for _, hdr := range [][]string{bad, {"Authorization", "Bearer " + good}} {
		code, body, h := f.doHeader(t, "GET", "/v1/services", hdr...)
		wantError(t, code, body, 429, CodeTooManyRequests, "")
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || time.Duration(s)*time.Second > failEvery {
			t.Errorf("Retry-After %q", h.Get("Retry-After"))
		}
	}
	if code, _ := f.do(t, "GET", "/healthz", ""); code != 200 {
		t.Errorf("/healthz while limited: %d", code)
	}
	now = now.Add(failEvery)
	if code, body := f.do(t, "GET", "/v1/services", "", "Authorization", "Bearer "+good); code != 200 {
		t.Errorf("good token after %s: %d %s", failEvery, code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"invalid": failBurst, "rate_limited": 2}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counted %v, want %v", counts, want)
	}
}

// TestFailLimiterBounded: a million failing addresses keep at most
// maxSources limiters; past that, new sources share the overflow bucket
// and are limited together; buckets that refilled are forgotten.
func TestFailLimiterBounded(t *testing.T) {
	l := newFailLimiter(time.Second, 3, 8)
	now := time.Unix(0, 0)
	for i := range 1000 {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		l.failed(src, now)
		if _, blocked := l.blocked(src, now); blocked && i < 8 {
			t.Fatalf("source %d blocked after one failure", i)
		}
	}
	if n := l.size(); n != 8 {
		t.Fatalf("%d sources tracked, want 8", n)
	}
	if _, blocked := l.blocked("192.0.2.1", now); !blocked {
		t.Fatal("a new source beyond the bound has a fresh burst: the overflow bucket is not used")
	}
	now = now.Add(time.Hour)
	l.failed("192.0.2.1", now)
	if n := l.size(); n != 1 {
		t.Fatalf("%d sources after the old buckets refilled, want 1", n)
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":            "127.0.0.1",
		"[::ffff:10.0.0.1]:1":       "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:81":      "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":          "fe80::/64",
		"":                          "unix",
		"@":                         "unix",
	} {
		if got := sourceKey(in); got != want {
			t.Errorf("sourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}
