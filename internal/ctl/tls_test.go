package ctl

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

// TestTLSFlags: --cacert (or $SWITCHD_CACERT) makes an https control API
// with a private CA reachable; the files are refused with a plain or unix
// address, and --cert without --key is a usage error.
func TestTLSFlags(t *testing.T) {
	f := &fakeAPI{routes: map[string][]reply{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.addr = f.srv.URL
	f.on("GET /v1/services", jsonReply(200, api.ServiceList{Services: []api.Service{appService()}}))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCtl(t, f, "--cacert", ca, "status"); r.code != 0 || !strings.Contains(r.stdout, "app") {
		t.Fatalf("--cacert: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := runCtlCtx(ctx, t, f, map[string]string{"SWITCHD_CACERT": ca}, testOptions, "status"); r.code != 0 {
		t.Fatalf("$SWITCHD_CACERT: %+v", r)
	}
	if r := runCtl(t, f, "status"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("without the CA: %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "http://127.0.0.1:9", "--cacert", ca, "status"}, "need an https:// --addr"},
		{[]string{"--addr", "unix:/run/x.sock", "--cert", ca, "status"}, "need an https:// --addr"},
		{[]string{"--addr", f.srv.URL, "--cert", ca, "status"}, "--cert and --key go together"},
		{[]string{"--addr", f.srv.URL, "--cacert", filepath.Join(t.TempDir(), "none.pem"), "status"}, "--cacert"},
	} {
		if r := runCtl(t, nil, tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %d %q, want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
