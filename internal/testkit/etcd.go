package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Etcd is one member of a real etcd server (the etcd binary of the Debian
// package etcd-server) on loopback, in its own process, started and stopped
// by PID. Its data lives in a t.TempDir, so Stop and Start keep the data.
type Etcd struct {
	// ClientURL is where clients connect: "http://127.0.0.1:PORT".
	ClientURL string
	t         testing.TB
	tls       *tls.Config // clients' TLS; nil: plain http
	args      []string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// StartEtcd starts a single-member etcd.
func StartEtcd(t testing.TB) *Etcd { return StartEtcdCluster(t, 1)[0] }

// StartEtcdTLS starts a single-member etcd that serves clients over TLS
// with a certificate of ca and requires client certificates ca signed;
// client is the certificate WaitHealthy uses.
func StartEtcdTLS(t testing.TB, ca *CA, clientCert, clientKey string) *Etcd {
	t.Helper()
	cert, key := ca.Server(t)
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return startEtcd(t, 1, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		"--cert-file", cert, "--key-file", key, "--client-cert-auth", "--trusted-ca-file", ca.File)[0]
}

// StartEtcdCluster starts an n-member etcd cluster and waits until every
// member answers. The members are stopped when the test ends.
func StartEtcdCluster(t testing.TB, n int) []*Etcd { return startEtcd(t, n, nil) }

// startEtcd starts n members; with clientTLS their client URLs are https
// and extra holds the TLS flags.
func startEtcd(t testing.TB, n int, clientTLS *tls.Config, extra ...string) []*Etcd {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		// CI installs it (.ci/run) and must never skip these tests; a
		// developer's machine without it skips them, saying how to run them.
		if os.Getenv("CI") != "" {
			t.Fatalf("etcd not found (apt-get install etcd-server): %v", err)
		}
		t.Skipf("etcd not found: apt-get install etcd-server to run the fleet tests (%v)", err)
	}
	names := make([]string, n)
	clients := make([]string, n)
	peers := make([]string, n)
	var initial []string
	for i := range n {
		names[i] = fmt.Sprintf("m%d", i)
		clients[i] = "http://" + freeAddr(t)
		if clientTLS != nil {
			clients[i] = "https://" + strings.TrimPrefix(clients[i], "http://")
		}
		peers[i] = "http://" + freeAddr(t)
		initial = append(initial, names[i]+"="+peers[i])
	}
	token := fmt.Sprintf("switchd-test-%d", time.Now().UnixNano())
	out := make([]*Etcd, n)
	for i := range n {
		dir := filepath.Join(t.TempDir(), names[i])
		e := &Etcd{ClientURL: clients[i], t: t, tls: clientTLS, args: []string{bin,
			"--name", names[i], "--data-dir", dir,
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token, "--logger", "zap", "--log-level", "error",
			// Loopback and a loaded test machine: short heartbeats find a
			// killed leader quickly, the election timeout tolerates stalls.
			"--heartbeat-interval", "50", "--election-timeout", "1000"}}
		e.args = append(e.args, extra...)
		e.Start()
		t.Cleanup(e.Stop)
		out[i] = e
	}
	for _, e := range out {
		e.WaitHealthy()
	}
	return out
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start (re)starts the member on its data folder.
func (e *Etcd) Start() {
	e.t.Helper()
	cmd := exec.Command(e.args[0], e.args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start etcd: %v", err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(cmd, e.exited)
}

// Stop kills the member by its PID and waits for it to exit; a stopped
// member stays stopped.
func (e *Etcd) Stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
	e.cmd = nil
}

// WaitHealthy waits until the member answers /health with a leader.
func (e *Etcd) WaitHealthy() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: e.tls}}
	for time.Now().Before(deadline) {
		resp, err := c.Get(e.ClientURL + "/health")
		if err == nil {
			ok := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if ok {
				c.CloseIdleConnections()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.CloseIdleConnections()
	e.t.Fatalf("etcd at %s not healthy after 30s", e.ClientURL)
}
