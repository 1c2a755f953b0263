package daemon

import (
	"bytes"
	"context"
	"fmt"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestTokenAddAndUse: `switchd token add` prints a secret that switchctl can
// use against a daemon whose control API needs tokens.
func TestTokenAddAndUse(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"token", "add", "deployer", "operate", "-file", tokens}, &stdout, &stderr); code != 0 {
		t.Fatalf("token add: exit %d: %s", code, stderr.String())
	}
	// The token alone on stdout, so that scripts can capture it.
	secret := strings.TrimSuffix(stdout.String(), "\n")
	if !strings.HasPrefix(secret, "swd_") || strings.ContainsAny(secret, " \n") || stdout.String() != secret+"\n" {
		t.Fatalf("stdout is not the token alone: %q", stdout.String())
	}
	if code := Main(context.Background(), []string{"token", "add", "deployer", "admin", "-file", tokens}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `token "deployer" exists already`) {
		t.Fatalf("a second token of the same name: exit %d %q", code, stderr.String())
	}
	if code := Main(context.Background(), []string{"token", "add", "x", "root", "-file", tokens}, &stdout, &stderr); code != 2 {
		t.Fatalf("a bad role: exit %d", code)
	}
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, dir, addrOf(blue), addrOf(green))
	text = strings.Replace(text, "[control]\n", fmt.Sprintf("[control]\ntokens_file = %q\n", tokens), 1)
	in := startRun(t, text)
	if code, _, errs := switchctl(t, in.control, "status"); code != 3 || !strings.Contains(errs, "token") {
		t.Fatalf("status without a token: %d %q", code, errs)
	}
	if code, _, errs := switchctl(t, in.control, "--token", secret, "wait", "healthy", "green", "--timeout", "5s"); code != 0 {
		t.Fatalf("wait with the token: %d %q", code, errs)
	}
	if code, _, errs := switchctl(t, in.control, "--token", secret, "flip"); code != 0 {
		t.Fatalf("flip with the token: %d %q", code, errs)
	}
	if code, out, _ := switchctl(t, in.control, "--token", secret, "status", "app"); code != 0 || !strings.Contains(out, "deployer") {
		t.Fatalf("status after the flip does not name the token: %d %q", code, out)
	}
	if code, _, errs := switchctl(t, in.control, "--token", secret, "reload"); code != 3 || !strings.Contains(errs, "admin") {
		t.Fatalf("reload with an operate token: %d %q", code, errs)
	}
}

// TestTokensFollowTheBoundAddress: a control API bound to a non-loopback
// address needs tokens whatever the config says, and a reload cannot drop
// them (a reload does not move the listener).
func TestTokensFollowTheBoundAddress(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if _, err := control.AddToken(tokens, "ops", control.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	base := fmt.Sprintf(baseConfig, dir, addrOf(blue), addrOf(green))
	withTokens := strings.Replace(base, "[control]\n", fmt.Sprintf("[control]\ntokens_file = %q\n", tokens), 1)
	d := &daemon{log: zap.NewNop()}
	cfg, err := config.Parse([]byte(base), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfgT, err := config.Parse([]byte(withTokens), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr    net.Addr
		cfg     *config.Config
		wantErr bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9180}, cfg, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9180}, cfg, false},
		{&net.UnixAddr{Name: "/run/switchd/control.sock", Net: "unix"}, cfg, false},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 9180}, cfg, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9180}, cfg, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9180}, cfgT, false},
	} {
		d.controlLn = fakeListener{tc.addr}
		toks, err := d.controlTokens(tc.cfg)
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err %v, want error %v", tc.addr, err, tc.wantErr)
		}
		if err == nil && (toks != nil) != (tc.cfg == cfgT) {
			t.Errorf("%v: tokens %v", tc.addr, toks)
		}
	}
}

type fakeListener struct{ addr net.Addr }

func (f fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (f fakeListener) Close() error              { return nil }
func (f fakeListener) Addr() net.Addr            { return f.addr }
