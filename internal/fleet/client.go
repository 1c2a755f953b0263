package fleet

import (
	"crypto/tls"
	"io"
	"os"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/grpclog"

	"github.com/switchd/switchd/internal/config"
)

// grpc, under the etcd client, logs every failed reconnect to stderr on
// its own; etcd being away is reported once through switchd's logger and
// switchd_store_up instead. SetLoggerV2 must run before grpc does.
func init() { grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard)) }

// PasswordEnv names the environment variable the etcd password is read
// from, so that it is not written into config.toml.
const PasswordEnv = "SWITCHD_ETCD_PASSWORD"

// NewClient returns a client for [state.etcd]: TLS when an endpoint is
// https or a CA or client certificate is given, and username/password
// authentication when username is set. It does not connect yet.
func NewClient(c config.Etcd, log *zap.Logger) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   c.Endpoints,
		DialTimeout: c.DialTimeout.D(),
		Logger:      log,
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	secure := c.CAFile != "" || c.CertFile != ""
	for _, ep := range c.Endpoints {
		secure = secure || strings.HasPrefix(ep, "https://")
	}
	if secure {
		info := transport.TLSInfo{TrustedCAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
		var err error
		if c.CAFile == "" && c.CertFile == "" {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		} else if cfg.TLS, err = info.ClientConfig(); err != nil {
			return nil, err
		}
	}
	if c.Username != "" {
		cfg.Username, cfg.Password = c.Username, os.Getenv(PasswordEnv)
	}
	return clientv3.New(cfg)
}
