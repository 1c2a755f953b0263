package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file; tests append to it. Lines 1-5.
const minimal = `[[service]]
name = "app"
hosts = ["app.example.com"]
  [service.blue]
  upstreams = ["127.0.0.1:8081"]
`

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse([]byte(text), "config.toml")
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

// parseErrorTests are bad files and the exact error each one gets. The
// fuzz test is seeded with them too.
var parseErrorTests = []struct {
	name, text, want string
}{
	{"unknown key", "[server]\nhttp_listn = \":80\"\n" + minimal,
		`config.toml:2: server.http_listn: unknown key (did you mean "http_listen"?)`},
	{"unknown key in service", minimal + "  [service.health]\n  intervall = \"1s\"\n",
		`config.toml:7: service "app": health.intervall: unknown key (did you mean "interval"?)`},
	{"unknown table", "[servr]\n" + minimal,
		`config.toml:1: servr: unknown table (did you mean "server"?)`},
	{"bad duration", minimal + "  [service.health]\n  interval = \"1x\"\n",
		`config.toml:7: service "app": health.interval: bad duration "1x" (want e.g. "500ms", "10s", "1m")`},
	{"negative duration", "[server]\nshutdown_grace = \"-1s\"\n" + minimal,
		`config.toml:2: server.shutdown_grace: bad duration "-1s": must not be negative`},
	{"zero body read timeout", "[server]\nbody_read_timeout = \"0s\"\n" + minimal,
		`config.toml:2: server.body_read_timeout: must be positive`},
	{"wrong type", "[server]\nmax_header_bytes = \"big\"\n" + minimal,
		`config.toml:2: server.max_header_bytes: want an integer, got a string`},
	{"wrong element type", "[server]\ntrusted_proxies = [\n  \"10.0.0.0/8\",\n  7,\n]\n" + minimal,
		`config.toml:4: server.trusted_proxies: want a list of strings, got an array holding an integer`},
	{"syntax error", "[server]\nhttp_listen = \n" + minimal,
		`config.toml:2: bad toml: unexpected character U+000A at start of value`},
	{"defined twice", "[[service]]\nname = \"app\"\nname = \"web\"\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:3: service "app": name: defined twice (first on line 2)`},
	{"bad colour", "[[service]]\nname = \"app\"\ninitial = \"purple\"\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:3: service "app": initial: bad colour "purple": want "blue" or "green"`},
	{"empty colour", "[[service]]\nname = \"app\"\ninitial = \"\"\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:3: service "app": initial: want "blue" or "green"`},
	{"no services", "[log]\nlevel = \"info\"\n",
		`config.toml: service: at least one [[service]] is required`},
	{"name required", "[[service]]\nhosts = [\"a.com\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:1: service #1: name: required`},
	{"bad name", "[[service]]\nname = \"My App\"\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:2: service "My App": name: bad name "My App" (want lowercase letters, digits, "_", "." or "-", at most 63, starting with a letter or digit)`},
	{"duplicate name", minimal + "[[service]]\nname = \"app\"\nhosts = [\"b.example.com\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:7: service "app": name: service name "app" is already used on line 2`},
	{"duplicate host", minimal + "[[service]]\nname = \"web\"\nhosts = [\"APP.example.com.\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:8: service "web": hosts: host "APP.example.com." is already used by service "app"`},
	{"host twice", "[[service]]\nname = \"app\"\nhosts = [\"a.com\", \"A.com\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:3: service "app": hosts: host "A.com" is listed twice`},
	{"bad host", "[[service]]\nname = \"app\"\nhosts = [\"a.*.com\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:3: service "app": hosts: bad host "a.*.com" (want a DNS name like "app.example.com" or a pattern like "*.example.com")`},
	{"two default services", "[[service]]\nname = \"a\"\nblue.upstreams = [\"a:1\"]\n[[service]]\nname = \"b\"\nblue.upstreams = [\"b:1\"]\n",
		`config.toml:4: service "b": hosts: empty, but service "a" is already the default service (the one without hosts)`},
	{"upstream path", "[[service]]\nname = \"app\"\nblue.upstreams = [\"http://a:80/api\"]\n",
		`config.toml:3: service "app": blue.upstreams: bad upstream "http://a:80/api": must not have a path`},
	{"upstream port", "[[service]]\nname = \"app\"\nblue.upstreams = [\"10.0.0.1\"]\n",
		`config.toml:3: service "app": blue.upstreams: bad upstream "10.0.0.1": want "host:port", "http://host:port" or "https://host:port"`},
	{"upstream scheme", "[[service]]\nname = \"app\"\nblue.upstreams = [\"ftp://a:21\"]\n",
		`config.toml:3: service "app": blue.upstreams: bad upstream "ftp://a:21": scheme "ftp" is not http or https`},
	{"duplicate upstream", minimal + "  [service.green]\n  upstreams = [\"http://127.0.0.1:8081\"]\n",
		`config.toml:7: service "app": green.upstreams: duplicate upstream "http://127.0.0.1:8081" (also in blue.upstreams)`},
	{"timeout above interval", minimal + "  [service.health]\n  interval = \"1s\"\n  timeout = \"2s\"\n",
		`config.toml:8: service "app": health.timeout: "2s" is longer than health.interval "1s"`},
	{"interval too short", minimal + "  [service.health]\n  interval = \"1ms\"\n",
		`config.toml:7: service "app": health.interval: must be at least 10ms, got "1ms"`},
	{"rise zero", minimal + "  [service.health]\n  rise = 0\n",
		`config.toml:7: service "app": health.rise: must be at least 1, got 0`},
	{"health path", minimal + "  [service.health]\n  path = \"healthz\"\n",
		`config.toml:7: service "app": health.path: bad path "healthz" (want e.g. "/healthz")`},
	{"status range", minimal + "  [service.health]\n  expect_status = \"399-200\"\n",
		`config.toml:7: service "app": health.expect_status: bad status range "399-200" (want e.g. "200-399" or "204")`},
	{"min healthy", minimal + "  [service.health]\n  min_healthy = \"150%\"\n",
		`config.toml:7: service "app": health.min_healthy: bad min_healthy "150%" (want a count like "2" or a percentage like "50%")`},
	{"error rate", minimal + "  [service.guard]\n  max_error_rate = 0\n",
		`config.toml:7: service "app": guard.max_error_rate: must be in (0, 1], got 0`},
	{"min requests", minimal + "  [service.guard]\n  min_requests = 0\n",
		`config.toml:7: service "app": guard.min_requests: must be at least 1, got 0`},
	{"guard window", minimal + "  [service.guard]\n  window = \"50ms\"\n",
		`config.toml:7: service "app": guard.window: must be at least 100ms, got "50ms"`},
	{"watch", minimal + "  [service.guard]\n  watch = \"never\"\n",
		`config.toml:7: service "app": guard.watch: bad watch "never" (want a duration like "10m" or "always")`},
	{"preview header", minimal + "  [service.preview]\n  header = \"X Preview\"\n",
		`config.toml:7: service "app": preview.header: bad header name "X Preview"`},
	{"tokens file required", "[control]\nlisten = \"0.0.0.0:9180\"\n" + minimal,
		`config.toml:2: control.tokens_file: required when control.listen "0.0.0.0:9180" is neither loopback nor a unix socket (or set control.client_ca)`},
	{"control key without cert", "[control]\ntls_key = \"/k.pem\"\n" + minimal,
		`config.toml:2: control.tls_cert: required with control.tls_key`},
	{"control tls on unix", "[control]\nlisten = \"unix:/run/s.sock\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n" + minimal,
		`config.toml:3: control.tls_cert: TLS is for a TCP control.listen, not the unix socket "unix:/run/s.sock"`},
	{"control cert missing", "[control]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n" + minimal,
		"config.toml:2: control.tls_cert: cannot read \"/nonexistent/c.pem\": no such file or directory\n" +
			`config.toml:3: control.tls_key: cannot read "/nonexistent/k.pem": no such file or directory`},
	{"client ca without tls", "[control]\nclient_ca = \"/ca.pem\"\n" + minimal,
		`config.toml:2: control.client_ca: needs control.tls_cert and control.tls_key: client certificates come with TLS`},
	{"client cert role", "[control]\nclient_cert_role = \"root\"\n" + minimal,
		`config.toml:2: control.client_cert_role: bad role "root" (want "read", "operate" or "admin")`},
	{"control host with port", "[control]\nhosts = [\"edge1.example.com:9180\"]\n" + minimal,
		`config.toml:2: control.hosts: bad host "edge1.example.com:9180" (want a name or an IP, without port)`},
	{"relative unix socket", "[control]\nlisten = \"unix:run/switchd.sock\"\n" + minimal,
		`config.toml:2: control.listen: bad address "unix:run/switchd.sock": a unix socket path must be absolute`},
	{"bad listen", "[server]\nhttp_listen = \"80\"\n" + minimal,
		`config.toml:2: server.http_listen: bad address "80": want "host:port"`},
	{"no listener", "[server]\nhttp_listen = \"\"\n" + minimal,
		`config.toml:2: server.http_listen: is empty and tls.mode is "off": nothing would serve requests`},
	{"log level", "[log]\nlevel = \"verbose\"\n" + minimal,
		`config.toml:2: log.level: bad level "verbose" (want "debug", "info", "warn" or "error")`},
	{"log format", "[log]\nformat = \"text\"\n" + minimal,
		`config.toml:2: log.format: bad format "text" (want "json" or "console")`},
	{"state on_missing", "[state]\non_missing = \"ignore\"\n" + minimal,
		`config.toml:2: state.on_missing: bad value "ignore" (want "start" or "refuse")`},
	{"state backend", "[state]\nbackend = \"consul\"\n" + minimal,
		`config.toml:2: state.backend: bad value "consul" (want "file" or "etcd")`},
	{"state etcd no endpoints", "[state]\nbackend = \"etcd\"\n" + minimal,
		`config.toml:2: state.etcd.endpoints: must name at least one etcd client URL with backend "etcd"`},
	{"state etcd bad endpoint", "[state]\nbackend = \"etcd\"\n[state.etcd]\nendpoints = [\"10.0.0.5:2379\"]\n" + minimal,
		`config.toml:4: state.etcd.endpoints: bad endpoint "10.0.0.5:2379" (want http://host:port or https://host:port)`},
	{"state etcd prefix", "[state]\nbackend = \"etcd\"\n[state.etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\nprefix = \"switchd\"\n" + minimal,
		`config.toml:5: state.etcd.prefix: must start and end with "/", got "switchd"`},
	{"state etcd cert without key", "[state]\nbackend = \"etcd\"\n[state.etcd]\nendpoints = [\"https://127.0.0.1:2379\"]\ncert_file = \"c.pem\"\n" + minimal,
		`config.toml:5: state.etcd.cert_file: cert_file and key_file go together (a client certificate needs both)`},
	{"state etcd dial timeout", "[state]\nbackend = \"etcd\"\n[state.etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\ndial_timeout = \"1ms\"\n" + minimal,
		`config.toml:5: state.etcd.dial_timeout: must be at least 10ms, got "1ms"`},
	{"tls acme wildcard", "[tls]\nmode = \"acme\"\n[[service]]\nname = \"app\"\nhosts = [\"example.com\", \"*.example.com\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:5: service "app": hosts: "*.example.com" needs a DNS challenge, which tls.mode "acme" does not do; use tls.mode "files"`},
	{"tls acme no exact host", "[tls]\nmode = \"acme\"\n[[service]]\nname = \"app\"\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:2: tls.mode: "acme" needs a service with an exact name in hosts (like "app.example.com") to get a certificate for`},
	{"tls acme internal name", "[tls]\nmode = \"acme\"\n[[service]]\nname = \"app\"\nhosts = [\"app.internal\"]\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:5: service "app": hosts: "app.internal" is not a public name, so Let's Encrypt cannot issue for it; set tls.ca to a private ACME CA, or use tls.mode "internal" or "files"`},
	{"tls acme ca", "[tls]\nmode = \"acme\"\nca = \"http://acme.example.com/directory\"\n" + minimal,
		`config.toml:3: tls.ca: bad url "http://acme.example.com/directory" (want the "https://" url of an ACME directory)`},
	{"tls acme ca_root", "[tls]\nmode = \"acme\"\nca = \"https://acme.example.com/directory\"\nca_root = \"/nonexistent/root.pem\"\n" + minimal,
		`config.toml:4: tls.ca_root: cannot read "/nonexistent/root.pem": no such file or directory`},
	{"tls acme email", "[tls]\nmode = \"acme\"\nemail = \"ops at example.com\"\n" + minimal,
		`config.toml:3: tls.email: bad address "ops at example.com" (want e.g. "ops@example.com")`},
	{"tls acme http-01 without http", "[server]\nhttp_listen = \"\"\n[tls]\nmode = \"acme\"\nchallenges = [\"http-01\", \"tls-alpn-01\"]\n" + minimal,
		`config.toml:2: server.http_listen: is empty and tls.challenges has "http-01": HTTP-01 challenges arrive on it (leave it out to use only "tls-alpn-01")`},
	{"tls acme no challenges", "[tls]\nmode = \"acme\"\nchallenges = []\n" + minimal,
		`config.toml:3: tls.challenges: is empty and tls.mode is "acme": want "http-01", "tls-alpn-01" or both`},
	{"tls acme bad challenge", "[tls]\nmode = \"acme\"\nchallenges = [\"tls-alpn-01\", \"dns-01\", \"tls-alpn-01\"]\n" + minimal,
		"config.toml:3: tls.challenges: unknown challenge \"dns-01\" (want \"http-01\" or \"tls-alpn-01\")\n" +
			`config.toml:3: tls.challenges: "tls-alpn-01" is listed twice`},
	{"tls without https_listen", "[server]\nhttps_listen = \"\"\n[tls]\nmode = \"internal\"\n" + minimal,
		`config.toml:2: server.https_listen: is empty and tls.mode is "internal": https needs an address`},
	{"tls internal without hosts", "[tls]\nmode = \"internal\"\n[[service]]\nname = \"app\"\nblue.upstreams = [\"a:1\"]\n",
		`config.toml:2: tls.mode: "internal" needs a service with hosts: certificates are issued only for configured names`},
	{"tls files without cert_file", "[tls]\nmode = \"files\"\nkey_file = \"/etc/switchd/key.pem\"\n" + minimal,
		`config.toml:2: tls.cert_file: required when tls.mode is "files"`},
	{"tls files unreadable", "[tls]\nmode = \"files\"\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n" + minimal,
		"config.toml:3: tls.cert_file: cannot read \"/nonexistent/cert.pem\": no such file or directory\n" +
			`config.toml:4: tls.key_file: cannot read "/nonexistent/key.pem": no such file or directory`},
	{"tls files not a regular file", "[tls]\nmode = \"files\"\ncert_file = \"/dev/null\"\nkey_file = \"/nonexistent/key.pem\"\n" + minimal,
		"config.toml:3: tls.cert_file: \"/dev/null\" is not a regular file\n" +
			`config.toml:4: tls.key_file: cannot read "/nonexistent/key.pem": no such file or directory`},
	{"tls hsts", "[tls]\nhsts = \"max-age=1y\"\n" + minimal,
		`config.toml:2: tls.hsts: bad value "max-age=1y" (want "max-age=<seconds>", optionally followed by "; includeSubDomains" and "; preload")`},
	{"tls bad mode", "[tls]\nmode = \"on\"\n" + minimal,
		`config.toml:2: tls.mode: bad mode "on" (want "off", "acme", "files" or "internal")`},
	{"tls min version", "[tls]\nmin_version = \"1.1\"\n" + minimal,
		`config.toml:2: tls.min_version: bad version "1.1" (want "1.2" or "1.3")`},
	{"trusted proxies", "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n" + minimal,
		`config.toml:2: server.trusted_proxies: bad cidr "10.0.0.0/33" (want e.g. "10.0.0.0/8" or "192.0.2.7")`},
	{"max header bytes", "[server]\nmax_header_bytes = 512\n" + minimal,
		`config.toml:2: server.max_header_bytes: must be at least 1024, got 512`},
	{"upstream max idle", "[server]\nupstream_max_idle = -1\n" + minimal,
		`config.toml:2: server.upstream_max_idle: must not be negative, got -1`},
	{"upstream idle timeout", "[server]\nupstream_idle_timeout = \"0s\"\n" + minimal,
		`config.toml:2: server.upstream_idle_timeout: must be positive`},
	{"notify url", minimal + "[[notify]]\nurl = \"hooks.example.com/x\"\n",
		`config.toml:7: notify #1: url: bad url "hooks.example.com/x" (want an absolute "http://" or "https://" url)`},
	{"notify event", minimal + "[[notify]]\nurl = \"https://hooks.example.com/x\"\nevents = [\"flip\", \"flop\"]\n",
		`config.toml:8: notify #1: events: unknown event "flop" (want one of "flip", "rollback", "guard", "failover", "guard_blocked", "health", "reload", "startup", "state_persist", "pool")`},
	{"table for array", "[service]\nname = \"app\"\n",
		`config.toml:1: service: want an array of tables, got a table`},
	{"sub-table before array", "[service.blue]\nupstreams = [\"a:1\"]\n",
		`config.toml:1: service: a [service.blue] table needs a [[service]] before it`},
	{"table twice", minimal + "  [service.blue]\n",
		`config.toml:6: service "app": blue: defined twice (first on line 4)`},
	{"integer out of range", "[server]\nmax_header_bytes = 99999999999999999999\n" + minimal,
		`config.toml:2: server.max_header_bytes: integer 99999999999999999999 is out of range`},
}

func TestParseErrors(t *testing.T) {
	seen := make(map[string]bool)
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			if seen[tt.name] {
				t.Fatal("duplicate case name")
			}
			seen[tt.name] = true
			c, err := Parse([]byte(tt.text), "config.toml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Error("Parse returned a config with an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestParseReportsEveryProblemSortedByLine(t *testing.T) {
	text := `[server]
max_header_bytes = 1
bogus = true

[[service]]
name = "app"
initial = "green"
  [service.blue]
  upstreams = ["a:1", "a:1"]
  [service.health]
  interval = "1x"
  rise = "2"
  [service.guard]
  max_error_rate = 2.0

[log]
level = "loud"
`
	_, err := Parse([]byte(text), "/etc/switchd/config.toml")
	want := []string{
		`/etc/switchd/config.toml:2: server.max_header_bytes: must be at least 1024, got 1`,
		`/etc/switchd/config.toml:3: server.bogus: unknown key`,
		`/etc/switchd/config.toml:9: service "app": blue.upstreams: duplicate upstream "a:1" (also in blue.upstreams)`,
		`/etc/switchd/config.toml:11: service "app": health.interval: bad duration "1x" (want e.g. "500ms", "10s", "1m")`,
		`/etc/switchd/config.toml:12: service "app": health.rise: want an integer, got a string`,
		`/etc/switchd/config.toml:14: service "app": guard.max_error_rate: must be in (0, 1], got 2`,
		`/etc/switchd/config.toml:17: log.level: bad level "loud" (want "debug", "info", "warn" or "error")`,
	}
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors\n got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Key != "server.max_header_bytes" || e.Subject != "" {
		t.Errorf("errors.As: %+v", e)
	}
}

// A value the scan had to drop stands in as its default; it must not draw
// a second, misleading error from validation.
func TestParseDroppedValueGetsNoSecondError(t *testing.T) {
	text := `[[service]]
name = "app"
blue.upstreams = "127.0.0.1:8081"
health.interval = "fast"
health.timeout = "2s"
`
	_, err := Parse([]byte(text), "config.toml")
	want := `config.toml:3: service "app": blue.upstreams: want a list of strings, got a string
config.toml:4: service "app": health.interval: bad duration "fast" (want e.g. "500ms", "10s", "1m")`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got: %v\nwant: %s", err, want)
	}
}

func TestParseCapsErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("[server]\n")
	for i := range 30 {
		b.WriteString("unknown_" + string(rune('a'+i%26)) + strings.Repeat("x", i) + " = 1\n")
	}
	b.WriteString(minimal)
	_, err := Parse([]byte(b.String()), "config.toml")
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 {
		t.Fatalf("got %d lines, want %d", len(lines), maxErrors+1)
	}
	if last := lines[len(lines)-1]; last != "config.toml: 10 more errors not shown" {
		t.Errorf("last line %q", last)
	}
	if lines[0] != "config.toml:2: server.unknown_a: unknown key" {
		t.Errorf("first line %q", lines[0])
	}
}

func TestParseEmptyPathNamesConfigToml(t *testing.T) {
	_, err := Parse([]byte("[log]\nlevel = \"x\"\n"+minimal), "")
	if err == nil || !strings.HasPrefix(err.Error(), "config.toml:2: log.level: ") {
		t.Errorf("error %v", err)
	}
}

func TestParseAcceptsByteOrderMark(t *testing.T) {
	mustParse(t, "\ufeff"+minimal)
}

func TestParseDoesNotModifyInput(t *testing.T) {
	text := "[server]\nbogus = 1\n" + minimal
	data := []byte(text)
	if _, err := Parse(data, "config.toml"); err == nil {
		t.Fatal("Parse succeeded")
	}
	if string(data) != text {
		t.Errorf("input changed to %q", data)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	want := &Config{
		Server: Server{
			HTTPListen:              ":80",
			HTTPSListen:             ":443",
			ReadHeaderTimeout:       Duration(10 * time.Second),
			IdleTimeout:             Duration(120 * time.Second),
			BodyReadTimeout:         Duration(30 * time.Second),
			MaxHeaderBytes:          65536,
			ShutdownGrace:           Duration(30 * time.Second),
			UpstreamDialTimeout:     Duration(3 * time.Second),
			UpstreamResponseTimeout: Duration(60 * time.Second),
			UpstreamMaxIdle:         256,
			UpstreamIdleTimeout:     Duration(time.Second),
		},
		TLS:     TLS{Mode: "off", MinVersion: "1.2", RedirectHTTP: true, Challenges: []string{"http-01", "tls-alpn-01"}},
		Control: Control{Listen: "127.0.0.1:9180", ClientCertRole: "read"},
		Log:     Log{Level: "info", Format: "json", AccessLog: true},
		State: State{Dir: "/var/lib/switchd", OnMissing: "start", Backend: "file",
			Etcd: Etcd{Prefix: "/switchd/", DialTimeout: Duration(2 * time.Second)}},
		Services: []Service{{
			Name:    "app",
			Hosts:   []string{"app.example.com"},
			Initial: Blue,
			Blue:    Pool{Upstreams: []string{"127.0.0.1:8081"}},
			Health: Health{
				Path:         "/healthz",
				Interval:     Duration(time.Second),
				Timeout:      Duration(500 * time.Millisecond),
				Rise:         2,
				Fall:         2,
				ExpectStatus: StatusRange{200, 399},
				Host:         "app.example.com",
				MinHealthy:   MinHealthy{Percent: true, Pct: 100},
			},
			Guard: Guard{
				Enabled:      true,
				Window:       Duration(10 * time.Second),
				MaxErrorRate: 0.05,
				MinRequests:  20,
				Watch:        Watch{For: 10 * time.Minute},
				Failover:     true,
			},
			Preview: Preview{Header: "X-Switchd-Preview"},
			Drain:   Drain{Timeout: Duration(30 * time.Second)},
		}},
		Path: "config.toml",
	}
	want.keyLines = c.keyLines // where keys stand is not a default
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got: %+v\nwant: %+v", c, want)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	c := mustParse(t, `[server]
shutdown_grace = "0s"
upstream_response_timeout = "0s"
upstream_max_idle = 0
[tls]
redirect_http = false
[log]
access_log = false
[[service]]
name = "app"
hosts = ["*.example.com", "www.example.com"]
initial = "green"
green = { upstreams = ["127.0.0.1:1"] }
  [service.guard]
  enabled = false
  failover = false
  watch = "always"
  [service.drain]
  timeout = "0s"
  [service.health]
  min_healthy = 2
  expect_status = 204
[[service]]
name = "web"
guard = { enabled = false, failover = false }
blue.upstreams = ["127.0.0.1:2"]
`)
	if c.Server.ShutdownGrace != 0 || c.Server.UpstreamResponseTimeout != 0 || c.Server.UpstreamMaxIdle != 0 {
		t.Errorf("server zeroes replaced: %+v", c.Server)
	}
	if c.TLS.RedirectHTTP || c.Log.AccessLog {
		t.Error("explicit false replaced by default true")
	}
	for _, s := range c.Services {
		if s.Guard.Enabled || s.Guard.Failover {
			t.Errorf("service %q: guard %+v", s.Name, s.Guard)
		}
	}
	s := c.Services[0]
	if s.Initial != Green || s.Drain.Timeout != 0 || !s.Guard.Watch.Always {
		t.Errorf("service: %+v", s)
	}
	if s.Health.MinHealthy != (MinHealthy{Count: 2}) || s.Health.ExpectStatus != (StatusRange{204, 204}) {
		t.Errorf("health: %+v", s.Health)
	}
	if s.Health.Host != "www.example.com" {
		t.Errorf("health.host %q, want the first host that is not a pattern", s.Health.Host)
	}
	if c.Services[1].Health.Host != "" {
		t.Errorf("health.host of a service without hosts %q", c.Services[1].Health.Host)
	}
}

func TestInlineServicesGetDefaults(t *testing.T) {
	c := mustParse(t, `service = [
  { name = "a", hosts = ["a.com"], blue = { upstreams = ["127.0.0.1:1"] } },
  { name = "b", hosts = ["b.com"], blue = { upstreams = ["127.0.0.1:2"] }, guard = { enabled = false } },
]
`)
	if len(c.Services) != 2 || !c.Services[0].Guard.Enabled || c.Services[1].Guard.Enabled || !c.Services[1].Guard.Failover {
		t.Errorf("services: %+v", c.Services)
	}
	if c.Services[1].Health.Rise != 2 {
		t.Errorf("inline service without defaults: %+v", c.Services[1].Health)
	}
}

func TestNormalisation(t *testing.T) {
	c := mustParse(t, `[server]
trusted_proxies = ["10.1.2.3/8", "192.0.2.7", "2001:db8::1"]
[[service]]
name = "app"
hosts = ["App.Example.COM.", "*.Example.com"]
blue.upstreams = ["HTTP://Backend:0080/", "https://10.0.0.1:443", "[::1]:8080"]
`)
	s := c.Services[0]
	if want := []string{"app.example.com", "*.example.com"}; !reflect.DeepEqual(s.Hosts, want) {
		t.Errorf("hosts %q, want %q", s.Hosts, want)
	}
	if want := []string{"backend:80", "https://10.0.0.1:443", "[::1]:8080"}; !reflect.DeepEqual(s.Blue.Upstreams, want) {
		t.Errorf("upstreams %q, want %q", s.Blue.Upstreams, want)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
	}
	if !reflect.DeepEqual(c.Server.Trusted, want) {
		t.Errorf("trusted %v, want %v", c.Server.Trusted, want)
	}
}

func TestControlListen(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:9180", "localhost:9180", "[::1]:9180", "unix:/run/switchd/control.sock", "127.0.0.1:0"} {
		mustParse(t, "[control]\nlisten = \""+listen+"\"\n"+minimal)
	}
	c := mustParse(t, "[control]\nlisten = \":9180\"\ntokens_file = \"/etc/switchd/tokens\"\nhosts = [\"Edge1.Example.com.\", \"10.0.0.5\"]\n"+minimal)
	if c.Control.TokensFile != "/etc/switchd/tokens" || !reflect.DeepEqual(c.Control.Hosts, []string{"edge1.example.com", "10.0.0.5"}) {
		t.Errorf("control %+v", c.Control)
	}
}

func TestServiceByName(t *testing.T) {
	c := mustParse(t, minimal+"[[service]]\nname = \"web\"\nblue.upstreams = [\"127.0.0.1:2\"]\n")
	if s := c.ServiceByName("web"); s == nil || s != &c.Services[1] {
		t.Errorf("ServiceByName(web) = %p, want %p", s, &c.Services[1])
	}
	if s := c.ServiceByName("nope"); s != nil {
		t.Errorf("ServiceByName(nope) = %+v", s)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.Path != path {
		t.Fatalf("Load: %v, %+v", err, c)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// The shipped example must parse, and document every key there is.
func TestShippedConfig(t *testing.T) {
	c, err := Load("../../config.toml")
	if err != nil {
		t.Fatalf("shipped config:\n%v", err)
	}
	if len(c.Services) != 1 || c.Services[0].Name != "app" || c.State.Dir != "/var/lib/switchd" {
		t.Errorf("shipped config: %+v", c)
	}
	text, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, f *field)
	walk = func(prefix string, f *field) {
		for name, sub := range f.fields {
			if sub.kind == kindTable || sub.kind == kindTables {
				walk(prefix+name+".", sub)
				continue
			}
			// Commented-out keys count: [[notify]] is shown that way.
			re := regexp.MustCompile(`(?m)^[ \t#]*` + regexp.QuoteMeta(name) + ` *= .*# \S`)
			if !re.Match(text) {
				t.Errorf("config.toml does not document %s%s with a comment", prefix, name)
			}
		}
	}
	walk("", schema())
}

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `odd "dir" \ here`)
	c := Demo("127.0.0.1:40001", "127.0.0.1:40002", dir)
	if c.Path != "" || c.State.Dir != dir {
		t.Errorf("path %q, state dir %q", c.Path, c.State.Dir)
	}
	if c.Server.HTTPListen != "127.0.0.1:8080" || c.Control.Listen != "127.0.0.1:9180" || c.Log.Format != "console" {
		t.Errorf("demo: %+v", c)
	}
	if len(c.Services) != 1 {
		t.Fatalf("services: %+v", c.Services)
	}
	s := c.Services[0]
	if s.Name != "demo" || len(s.Hosts) != 0 || s.Initial != Blue || !s.Guard.Enabled || s.Health.Interval.D() != time.Second {
		t.Errorf("demo service: %+v", s)
	}
	if !reflect.DeepEqual(s.Blue.Upstreams, []string{"127.0.0.1:40001"}) || !reflect.DeepEqual(s.Green.Upstreams, []string{"127.0.0.1:40002"}) {
		t.Errorf("demo pools: %+v %+v", s.Blue, s.Green)
	}
}

func TestDemoPanicsOnBadAddress(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Demo("not an address", "127.0.0.1:1", t.TempDir())
}

// writePair writes a self-signed certificate for name and its key as PEM
// files in dir and returns their paths.
func writePair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// tomlPath quotes a path as a TOML literal string, which takes backslashes
// and double quotes as they are.
func tomlPath(p string) string { return "'" + p + "'" }

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := writePair(t, dir, "app.example.com")
	c2, k2 := writePair(t, dir, "other.example.com")
	filesConf := func(cert, key string) string {
		return "[tls]\nmode = \"files\"\ncert_file = " + tomlPath(cert) + "\nkey_file = " + tomlPath(key) + "\n" + minimal
	}
	c := mustParse(t, filesConf(c1, k1))
	if c.TLS.Mode != "files" || c.TLS.CertFile != c1 || c.TLS.KeyFile != k1 {
		t.Errorf("tls: %+v", c.TLS)
	}
	// One file holding both, as HAProxy wants them.
	both := filepath.Join(dir, "both.pem")
	certPEM, _ := os.ReadFile(c1)
	keyPEM, _ := os.ReadFile(k1)
	if err := os.WriteFile(both, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	mustParse(t, filesConf(both, both))

	for _, tt := range []struct {
		name, cert, key, want string
	}{
		{"mismatch", c1, k2, fmt.Sprintf(`config.toml:4: tls.key_file: %q does not match the certificate in %q`, k2, c1)},
		{"switched", k1, c1, fmt.Sprintf("config.toml:3: tls.cert_file: %q holds no PEM certificate\nconfig.toml:4: tls.key_file: %q holds no PEM private key", k1, c1)},
		{"same file", c2, c2, fmt.Sprintf(`config.toml:4: tls.key_file: %q holds no PEM private key`, c2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(filesConf(tt.cert, tt.key)), "config.toml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}

	garbage := filepath.Join(dir, "garbage.crt")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]byte(filesConf(garbage, k1)), "config.toml")
	if want := fmt.Sprintf("config.toml:3: tls.cert_file: %q: bad certificate: ", garbage); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error\n got: %v\nwant prefix: %s", err, want)
	}
}

// TestUpstreamTLSClientCert: the client certificate of
// [service.upstream_tls] is checked like the listener's pair, with the
// line, and server_name is normalised.
func TestUpstreamTLSClientCert(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := writePair(t, dir, "edge.example.com")
	_, k2 := writePair(t, dir, "other.example.com")
	conf := func(body string) string { return minimal + "  [service.upstream_tls]\n" + body }
	pair := func(cert, key string) string {
		return "  cert_file = " + tomlPath(cert) + "\n  key_file = " + tomlPath(key) + "\n"
	}
	c := mustParse(t, conf(pair(c1, k1)+"  server_name = \"Upstream.Internal.\"\n"))
	if u := c.Services[0].UpstreamTLS; u.CertFile != c1 || u.KeyFile != k1 || u.ServerName != "upstream.internal" {
		t.Errorf("upstream_tls: %+v", u)
	}
	mustParse(t, conf("  server_name = \"10.0.0.7\"\n"))

	for _, tt := range []struct{ name, body, want string }{
		{"cert without key", "  cert_file = " + tomlPath(c1) + "\n",
			`config.toml:7: service "app": upstream_tls.key_file: required with upstream_tls.cert_file`},
		{"key without cert", "  key_file = " + tomlPath(k1) + "\n",
			`config.toml:7: service "app": upstream_tls.cert_file: required with upstream_tls.key_file`},
		{"unreadable", pair("/nonexistent/c.pem", "/nonexistent/k.pem"),
			"config.toml:7: service \"app\": upstream_tls.cert_file: cannot read \"/nonexistent/c.pem\": no such file or directory\n" +
				`config.toml:8: service "app": upstream_tls.key_file: cannot read "/nonexistent/k.pem": no such file or directory`},
		{"mismatch", pair(c1, k2),
			fmt.Sprintf(`config.toml:8: service "app": upstream_tls.key_file: %q does not match the certificate in %q`, k2, c1)},
		{"bad server_name", "  server_name = \"app.internal:8443\"\n",
			`config.toml:7: service "app": upstream_tls.server_name: bad name "app.internal:8443" (want a DNS name like "app.internal" or an IP, without port)`},
		{"pattern server_name", "  server_name = \"*.internal\"\n",
			`config.toml:7: service "app": upstream_tls.server_name: bad name "*.internal" (want a DNS name like "app.internal" or an IP, without port)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(conf(tt.body)), "config.toml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

// TestACMEChallengesDefault: both challenges by default, only TLS-ALPN-01
// when there is no plain-HTTP listener for HTTP-01 to arrive on.
func TestACMEChallengesDefault(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"[tls]\nmode = \"acme\"\n", "http-01 tls-alpn-01"},
		{"[server]\nhttp_listen = \"\"\n[tls]\nmode = \"acme\"\n", "tls-alpn-01"},
		{"[tls]\nmode = \"acme\"\nchallenges = [\"tls-alpn-01\"]\n", "tls-alpn-01"},
	} {
		if got := strings.Join(mustParse(t, tt.text+minimal).TLS.Challenges, " "); got != tt.want {
			t.Errorf("challenges %q for\n%s", got, tt.text)
		}
	}
}

func TestTLSModesAccepted(t *testing.T) {
	root, _ := writePair(t, t.TempDir(), "ca.example.com")
	for _, text := range []string{
		"[tls]\nmode = \"acme\"\nemail = \"ops@example.com\"\nhsts = \"max-age=31536000; includeSubDomains\"\nmin_version = \"1.3\"\n" + minimal,
		// A private CA may issue for private names.
		"[tls]\nmode = \"acme\"\nca = \"https://127.0.0.1:14000/dir\"\nca_root = " + tomlPath(root) + "\n[[service]]\nname = \"app\"\nhosts = [\"app.test\"]\nblue.upstreams = [\"a:1\"]\n",
		// Wildcards are fine where no HTTP-01 challenge is needed.
		"[tls]\nmode = \"internal\"\n[[service]]\nname = \"app\"\nhosts = [\"*.example.com\"]\nblue.upstreams = [\"a:1\"]\n",
		// Without the plain listener, https alone serves.
		"[server]\nhttp_listen = \"\"\n[tls]\nmode = \"internal\"\n" + minimal,
	} {
		c := mustParse(t, text)
		if c.TLS.Mode == "off" {
			t.Errorf("mode off for\n%s", text)
		}
	}
}

func TestValidHSTS(t *testing.T) {
	for s, want := range map[string]bool{
		"max-age=31536000": true,
		"max-age=0":        true,
		"max-age=63072000; includeSubDomains; preload": true,
		"  Max-Age = 300 ;INCLUDESUBDOMAINS":           true,
		"preload; max-age=31536000":                    true,
		"includeSubDomains":                            false,
		"max-age=":                                     false,
		"max-age=-1":                                   false,
		"max-age=\"300\"":                              false,
		"max-age=300; max-age=400":                     false,
		"max-age=300; preload; preload":                false,
		"max-age=300; includeSubDomains=yes":           false,
		"max-age=300; always":                          false,
		"max-age=300;":                                 false,
		"max-age=99999999999":                          false,
		"max-age=31536000, includeSubDomains":          false,
	} {
		if got := validHSTS(s); got != want {
			t.Errorf("validHSTS(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestCheckActive: the active colour is state.json's when it knows one,
// else initial; either must have upstreams, the idle one need not.
func TestCheckActive(t *testing.T) {
	text := "[[service]]\nname = \"app\"\ninitial = \"green\"\nblue.upstreams = [\"a:1\"]\n" +
		"[[service]]\nname = \"api\"\nhosts = [\"api.test\"]\n  [service.blue]\n  upstreams = []\n  [service.green]\n  upstreams = [\"b:1\"]\n"
	c, err := Parse([]byte(text), "")
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]Color{}
	active := func(name string) (Color, bool) { col, ok := state[name]; return col, ok }
	for _, tc := range []struct {
		state map[string]Color
		want  string
	}{
		{nil, "config.toml:3: service \"app\": green.upstreams: the active colour green (from initial) has no upstreams\n" +
			"config.toml:9: service \"api\": blue.upstreams: the active colour blue (from initial) has no upstreams"},
		{map[string]Color{"app": Blue, "api": Green}, ""},
		{map[string]Color{"app": Blue, "api": Blue},
			"config.toml:9: service \"api\": blue.upstreams: the active colour blue (from state.json) has no upstreams"},
	} {
		state = tc.state
		err := c.CheckActive(active)
		if got := fmt.Sprint(err); (err == nil && tc.want != "") || (err != nil && got != tc.want) {
			t.Errorf("state %v:\n got %v\nwant %s", tc.state, err, tc.want)
		}
	}
}
