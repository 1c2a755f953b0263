package fleet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/testkit"
)

// NewClient speaks TLS with a client certificate to an etcd that demands
// one, and a client without the certificate is refused.
func TestClientCertificate(t *testing.T) {
	ca := testkit.NewCA(t, "etcd-ca")
	cert, key := ca.Client(t, "switchd")
	e := testkit.StartEtcdTLS(t, ca, cert, key)
	if !strings.HasPrefix(e.ClientURL, "https://") {
		t.Fatalf("etcd at %s, want https", e.ClientURL)
	}
	cfg := config.Etcd{Endpoints: []string{e.ClientURL}, DialTimeout: config.Duration(2 * time.Second),
		CAFile: ca.File, CertFile: cert, KeyFile: key}
	cli, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/tls-test/k", "v"); err != nil {
		t.Fatalf("put with a client certificate: %v", err)
	}

	cfg.CertFile, cfg.KeyFile = "", ""
	bare, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if _, err := bare.Get(ctx2, "/tls-test/k"); err == nil {
		t.Fatal("etcd answered a client without a certificate")
	}
}

// With username set, NewClient authenticates with $SWITCHD_ETCD_PASSWORD;
// a wrong password is refused.
func TestClientPassword(t *testing.T) {
	e := testkit.StartEtcd(t)
	admin, err := NewClient(config.Etcd{Endpoints: []string{e.ClientURL}, DialTimeout: config.Duration(2 * time.Second)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = admin.RoleAdd(ctx, "root") // present already in some releases
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "s3cret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close()

	cfg := config.Etcd{Endpoints: []string{e.ClientURL}, DialTimeout: config.Duration(2 * time.Second), Username: "root"}
	t.Setenv(PasswordEnv, "s3cret")
	cli, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "/auth-test/k", "v"); err != nil {
		t.Fatalf("put with the password: %v", err)
	}
	t.Setenv(PasswordEnv, "wrong")
	if bad, err := NewClient(cfg, nil); err == nil {
		defer bad.Close()
		if _, err := bad.Put(ctx, "/auth-test/k", "v"); err == nil {
			t.Fatal("etcd took a wrong password")
		}
	}
}
