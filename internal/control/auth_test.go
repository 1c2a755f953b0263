package control

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestParseTokensErrors(t *testing.T) {
	const h = "sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	const h2 = "sha256:" + "cd12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	for _, tc := range []struct{ text, want string }{
		{"deployer operate", "t:1: want \"<name> <role> sha256:<hex>\", got 2 fields"},
		{"# c\n\ndeployer root " + h, "t:3: bad role \"root\": want read, operate or admin"},
		{"deployer operate md5:abcd", "t:1: token \"deployer\": want sha256:<64 hex digits>"},
		{"deployer operate sha256:zz", "t:1: token \"deployer\": want sha256:<64 hex digits>"},
		{"a read " + h + "\na admin " + h2, "t:2: token name \"a\" used twice"},
		{"a read " + h + "\nb admin " + h, "t:2: token \"b\" has the same secret as another"},
	} {
		if _, err := ParseTokens([]byte(tc.text), "t"); err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
	toks, err := ParseTokens([]byte("# team\nops admin "+h+" # the on-call\n"), "t")
	if err != nil || len(toks.byHash) != 1 {
		t.Fatalf("valid file: %v", err)
	}
}

// TestAuthorization: with tokens, each endpoint needs its role; the token's
// name becomes changed_by; /healthz and /metrics need none.
func TestAuthorization(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	secrets := map[string]string{}
	for _, nr := range [][2]string{{"viewer", "read"}, {"deployer", "operate"}, {"root", "admin"}} {
		role, _ := ParseRole(nr[1])
		s, err := AddToken(file, nr[0], role)
		if err != nil {
			t.Fatal(err)
		}
		secrets[nr[0]] = s
	}
	if _, err := AddToken(file, "viewer", RoleRead); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("duplicate name: %v", err)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file mode %v", info.Mode())
	}
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOptions{tokens: toks, reload: func(context.Context) error { return nil }, upgrade: func() error { return nil }})
	bearer := func(name string) []string {
		if name == "" {
			return nil
		}
		if name == "bogus" {
			return []string{"Authorization", "Bearer swd_nope"}
		}
		return []string{"Authorization", "Bearer " + secrets[name]}
	}
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/v1/services", "", 401},
		{"GET", "/v1/services", "bogus", 401},
		{"GET", "/v1/services", "viewer", 200},
		{"GET", "/v1/services/app", "deployer", 200},
		{"POST", "/v1/services/app/flip", "viewer", 403},
		{"POST", "/v1/services/app/flip", "", 401},
		{"POST", "/v1/reload", "deployer", 403},
		{"POST", "/v1/reload", "root", 200},
		{"POST", "/v1/upgrade", "deployer", 403},
		{"POST", "/v1/upgrade", "root", 200},
		{"GET", "/v1/upgrade", "root", 405},
		{"GET", "/v1/services/app/flip", "", 405},
	} {
		code, body := f.do(t, tc.method, tc.path, "", bearer(tc.token)...)
		if code != tc.want {
			t.Errorf("%s %s as %q: %d %s, want %d", tc.method, tc.path, tc.token, code, body, tc.want)
		}
	}
	code, body := f.do(t, "POST", "/v1/services/app/flip", `{"reason":"r"}`, bearer("deployer")...)
	if code != 200 {
		t.Fatalf("flip as deployer: %d %s", code, body)
	}
	if res := decode[ChangeResult](t, body); res.Service.ChangedBy != "deployer" {
		t.Fatalf("changed_by %q, want the token's name", res.Service.ChangedBy)
	}
	// The header cannot impersonate when tokens are on.
	code, body = f.do(t, "POST", "/v1/services/app/flip", "", append(bearer("root"), "X-Switchd-Actor", "mallory")...)
	if res := decode[ChangeResult](t, body); code != 200 || res.Service.ChangedBy != "root" {
		t.Fatalf("actor header honoured with tokens on: %d %q", code, res.Service.ChangedBy)
	}
}

func TestLogLevelEndpoint(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	viewer, _ := AddToken(file, "viewer", RoleRead)
	root, _ := AddToken(file, "root", RoleAdmin)
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	lvl := zap.NewAtomicLevelAt(zap.InfoLevel)
	f := newFixture(t, fixtureOptions{tokens: toks, level: &lvl})
	as := func(s string) []string { return []string{"Authorization", "Bearer " + s} }
	if code, body := f.do(t, "GET", "/v1/log/level", "", as(viewer)...); code != 200 || decode[LogLevel](t, body).Level != "info" {
		t.Fatalf("GET: %d %s", code, body)
	}
	if code, _ := f.do(t, "PUT", "/v1/log/level", `{"level":"debug"}`, as(viewer)...); code != 403 {
		t.Fatalf("PUT as viewer: %d", code)
	}
	code, body := f.do(t, "PUT", "/v1/log/level", `{"level":"loud"}`, as(root)...)
	wantError(t, code, body, 400, CodeBadRequest, `level: bad level "loud" (want debug, info, warn or error)`)
	code, body = f.do(t, "PUT", "/v1/log/level", `{"level":"debug"}}`, as(root)...)
	wantError(t, code, body, 400, CodeBadRequest, "bad JSON body: data after the JSON value")
	code, body = f.do(t, "PUT", "/v1/log/level", ``, as(root)...)
	wantError(t, code, body, 400, CodeBadRequest, `level: bad level "" (want debug, info, warn or error)`)
	if code, body := f.do(t, "PUT", "/v1/log/level", `{"level":"debug"}`, as(root)...); code != 200 || lvl.Level() != zap.DebugLevel {
		t.Fatalf("PUT as admin: %d %s, level %v", code, body, lvl.Level())
	}
	code, body = f.do(t, "POST", "/v1/log/level", `{"level":"warn"}`, as(root)...)
	wantError(t, code, body, 405, CodeMethod, "")
}
