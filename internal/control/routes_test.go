package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestRoutesAreWhatTheServerEnforces checks Routes against the server
// itself: every listed route answers its method with the role listed, is
// refused one role below, and refuses another method. docs/ trusts this
// list to name every endpoint with its role.
func TestRoutesAreWhatTheServerEnforces(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	secret := map[Role]string{}
	for name, role := range map[string]Role{"viewer": RoleRead, "deployer": RoleOperate, "root": RoleAdmin} {
		s, err := AddToken(file, name, role)
		if err != nil {
			t.Fatal(err)
		}
		secret[role] = s
	}
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	board := newFixture(t, fixtureOptions{}).board
	stub := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) })
	lvl := zap.NewAtomicLevel()
	s := New(Options{Board: board, Tokens: toks, Metrics: stub, Events: stub, Level: &lvl,
		Reload: func(context.Context) error { return nil }})
	// This test fails authentication on purpose, more often than the
	// per-source limit allows: that limit has tests of its own.
	s.limiter = newFailLimiter(time.Nanosecond, 1<<20, maxSources)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f := &fixture{board: board, srv: srv}
	as := func(r Role) []string {
		if r == RoleNone {
			return nil
		}
		return []string{"Authorization", "Bearer " + secret[r]}
	}

	routes := s.Routes()
	var paths []string
	for _, r := range routes {
		paths = append(paths, r.Method+" "+r.Pattern)
	}
	for _, want := range []string{"GET /metrics", "GET /v1/events", "POST /v1/reload", "GET /v1/log/level", "PUT /v1/log/level"} {
		if !slices.Contains(paths, want) {
			t.Errorf("Routes() lacks %s with its option set: %v", want, paths)
		}
	}
	for _, r := range routes {
		path := strings.ReplaceAll(r.Pattern, "{name}", "app")
		if r.Role > RoleNone {
			if code, body := f.do(t, r.Method, path, ""); code != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: %d %s, want 401", r.Method, path, code, body)
			}
			if below := r.Role - 1; below > RoleNone {
				if code, body := f.do(t, r.Method, path, "", as(below)...); code != http.StatusForbidden {
					t.Errorf("%s %s as %s, listed as needing %s: %d %s, want 403", r.Method, path, below, r.Role, code, body)
				}
			}
		}
		code, body := f.do(t, r.Method, path, "", as(r.Role)...)
		if code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusMethodNotAllowed ||
			code == http.StatusNotFound && strings.Contains(string(body), "no endpoint") {
			t.Errorf("%s %s as %s, the role listed: %d %s", r.Method, path, r.Role, code, body)
		}
		// PATCH: no route takes it (DELETE is the pools' own).
		if code, body := f.do(t, http.MethodPatch, path, "", as(RoleAdmin)...); code != http.StatusMethodNotAllowed {
			t.Errorf("PATCH %s: %d %s, want 405", path, code, body)
		}
	}

	bare := New(Options{Board: board}).Routes()
	for _, r := range bare {
		if r.Pattern == "/metrics" || r.Pattern == "/v1/events" || r.Pattern == "/v1/reload" || r.Pattern == "/v1/log/level" {
			t.Errorf("Routes() lists %s %s, whose option is not set", r.Method, r.Pattern)
		}
	}
}
