package control

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestAuditLines: every mutation and every refusal is exactly one line of
// the "audit" logger with who, from where, what, from → to, generation,
// reason and result; a read that succeeds is none; no line carries a
// token's secret. The audit trail is written even with the log level at
// error.
func TestAuditLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	deployer, _ := AddToken(file, "deployer", RoleOperate)
	viewer, _ := AddToken(file, "viewer", RoleRead)
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.ErrorLevel)
	f := newFixture(t, fixtureOptions{tokens: toks, logger: zap.New(core), reload: func(context.Context) error { return nil }})
	as := func(secret string, more ...string) []string {
		return append([]string{"Authorization", "Bearer " + secret}, more...)
	}

	type want map[string]any
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		line                     want // nil: no line
	}{
		{"flip", "POST", "/v1/services/app/flip", `{"reason":"deploy 4f2a","expect":"blue"}`, as(deployer), 200,
			want{"actor": "deployer", "action": "flip", "service": "app", "from": "blue", "to": "green", "generation": uint64(1), "reason": "deploy 4f2a", "result": "ok"}},
		{"activate unchanged", "POST", "/v1/services/app/activate", `{"color":"green"}`, as(deployer), 200,
			want{"actor": "deployer", "action": "activate", "from": "green", "to": "green", "generation": uint64(1), "result": "unchanged"}},
		{"conflict", "POST", "/v1/services/app/flip", `{"expect":"blue","reason":"stale script"}`, as(deployer), 409,
			want{"actor": "deployer", "action": "flip", "from": "green", "to": "blue", "generation": uint64(1), "reason": "stale script", "result": CodeConflict}},
		{"bad body", "POST", "/v1/services/app/flip", `{"colour":"green"}`, as(deployer), 400,
			want{"actor": "deployer", "action": "flip", "result": CodeBadRequest}},
		{"bad token", "POST", "/v1/services/app/rollback", "", as("swd_guess"), 401,
			want{"actor": "anonymous", "action": "rollback", "service": "app", "result": CodeUnauthorized}},
		{"read token flips", "POST", "/v1/services/app/flip", "", as(viewer), 403,
			want{"actor": "viewer", "action": "flip", "result": CodeForbidden}},
		{"text/plain", "POST", "/v1/services/app/flip", "", as(deployer, "Content-Type", "text/plain"), 415,
			want{"action": "flip", "result": CodeUnsupportedMediaType}},
		{"origin", "GET", "/v1/services", "", as(viewer, "Origin", "https://evil.example"), 403,
			want{"action": "read", "path": "/v1/services", "result": CodeForbiddenOrigin}},
		{"foreign host flip", "POST", "/v1/services/app/flip", `{"force":true}`, as(deployer, "Host", "evil.example"), 403,
			want{"action": "flip", "service": "app", "actor": "anonymous", "result": CodeForbiddenOrigin}},
		{"read ok", "GET", "/v1/services/app", "", as(viewer), 200, nil},
		{"read 401", "GET", "/v1/services/app", "", nil, 401, want{"action": "read", "result": CodeUnauthorized}},
		{"reload", "POST", "/v1/reload", "", as(deployer), 403, want{"actor": "deployer", "action": "reload", "result": CodeForbidden}},
		// The status page's Basic credentials read, never change.
		{"basic flip", "POST", "/v1/services/app/flip", "", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("browser:"+deployer))}, 403,
			want{"actor": "deployer", "action": "flip", "result": CodeForbidden}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := logs.Len()
			code, body := f.do(t, tc.method, tc.path, tc.body, tc.hdr...)
			if code != tc.status {
				t.Fatalf("%d %s, want %d", code, body, tc.status)
			}
			lines := logs.All()[n:]
			if tc.line == nil {
				if len(lines) != 0 {
					t.Fatalf("%d lines for a read: %v", len(lines), lines[0].ContextMap())
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d audit lines, want 1", len(lines))
			}
			e := lines[0]
			if e.LoggerName != "audit" {
				t.Errorf("logger %q, want audit", e.LoggerName)
			}
			fields := e.ContextMap()
			for k, v := range tc.line {
				if fields[k] != v {
					t.Errorf("%s = %#v, want %#v", k, fields[k], v)
				}
			}
			if src, _ := fields["source"].(string); !strings.HasPrefix(src, "127.0.0.1:") {
				t.Errorf("source %q", src)
			}
			if fields["status"] != int64(tc.status) {
				t.Errorf("status %v, want %d", fields["status"], tc.status)
			}
			if e.Level != zapcore.InfoLevel && code == 200 || e.Level != zapcore.WarnLevel && code != 200 {
				t.Errorf("level %v for %d", e.Level, code)
			}
			text := e.Message + fmt.Sprint(fields)
			for _, secret := range []string{deployer, viewer, "swd_guess"} {
				if strings.Contains(text, secret) {
					t.Errorf("audit line carries a secret: %s", text)
				}
			}
		})
	}
}
