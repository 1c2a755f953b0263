package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/cloudflare/tableflip"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/buildinfo"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/gcpace"
	"github.com/switchd/switchd/internal/state"
)

// Version is the build's version when a release sets it with -ldflags
// "-X github.com/switchd/switchd/internal/daemon.Version=…"; "dev" (the
// zero) means: read it from the binary's build information.
var Version = "dev"

// version is what switchd reports: Version, or the module version or VCS
// commit the toolchain recorded.
func version() string { return buildinfo.Version(Version) }

// DefaultConfigPath is where switchd looks without -config.
const DefaultConfigPath = "/etc/switchd/config.toml"

// Main is the switchd command line: it returns the process exit code.
//
//	switchd [-config F] [-demo]
//	switchd validate [-config F]
//	switchd version
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "switchd %s (%s)\n", version(), runtime.Version())
			return 0
		case "validate":
			return validate(args[1:], stdout, stderr)
		case "token":
			return token(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("switchd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", DefaultConfigPath, "configuration file")
	demo := fs.Bool("demo", false, "run the built-in demo: two upstreams, proxy on 127.0.0.1:8080, control on 127.0.0.1:9180")
	pidFile := fs.String("pid-file", "", "write the PID here once serving (again by the new process after an upgrade)")
	demoHTTP := fs.String("http", demoHTTPAddr, "-demo: the proxy's address")
	demoControl := fs.String("control", demoControlAddr, "-demo: the control API's address")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "switchd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	// The daemon's heap is paced (internal/gcpace) unless GOGC is set.
	defer gcpace.Start()()
	if *demo {
		return runDemo(ctx, *demoHTTP, *demoControl, stderr)
	}
	demoOnly := ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "http" || f.Name == "control" {
			demoOnly = f.Name
		}
	})
	if demoOnly != "" {
		fmt.Fprintf(stderr, "switchd: -%s applies to -demo only; the configuration file sets the addresses otherwise\n", demoOnly)
		return 2
	}
	// The bytes go to Run too, so that the file watch knows what runs and
	// does not reload the same file once after start.
	data, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "switchd: read config: %v\n", err)
		return 1
	}
	cfg, err := config.Parse(data, *path)
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	upg, err := tableflip.New(tableflip.Options{PIDFile: *pidFile})
	if err != nil {
		// An unsupported platform, or a parent process whose sockets
		// cannot be read: serve without upgrades.
		fmt.Fprintf(stderr, "switchd: upgrades unavailable: %v\n", err)
		upg = nil
	}
	if err := Run(ctx, Options{Config: cfg, ConfigData: data, Version: version(), Upgrader: upg}); err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	return 0
}

const usage = `usage: switchd [-config FILE] [-pid-file FILE]
       switchd -demo [-http ADDR] [-control ADDR]
       switchd validate [-config FILE]
       switchd token add NAME ROLE [-file TOKENS_FILE] [-config FILE] [-group GROUP]
       switchd version
`

// token implements "switchd token add NAME ROLE -file F": it appends the
// token's hash to the tokens file and prints the secret, alone, on stdout.
func token(args []string, stdout, stderr io.Writer) int {
	if len(args) < 3 || args[0] != "add" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, roleName := args[1], args[2]
	fs := flag.NewFlagSet("switchd token add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "tokens file (default: [control].tokens_file of -config)")
	path := fs.String("config", DefaultConfigPath, "configuration file, for its tokens_file")
	group := fs.String("group", "", "group that may read the tokens file (default: the group of its folder, for a new file)")
	if err := fs.Parse(args[3:]); err != nil || fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	role, err := control.ParseRole(roleName)
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 2
	}
	if *file == "" {
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintf(stderr, "switchd: no -file, and the config gives none: %v\n", err)
			return 1
		}
		if *file = cfg.Control.TokensFile; *file == "" {
			fmt.Fprintf(stderr, "switchd: no -file, and %s sets no control.tokens_file\n", *path)
			return 1
		}
	}
	created := !fileExists(*file)
	secret, err := control.AddToken(*file, name, role)
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	if err := shareTokensFile(*file, *group, created); err != nil {
		// The token is in the file already; say so with the secret, or
		// it is lost.
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "switchd: token %q added to %s, but: %v\n", name, *file, err)
		return 1
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "switchd: token %q (%s) added to %s; reload switchd to use it\n", name, role, *file)
	return 0
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchd validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", DefaultConfigPath, "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err == nil {
		_, err = loadTokens(cfg.Control)
	}
	if err == nil {
		err = checkActive(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		fmt.Fprintf(stderr, "switchd: %s: configuration is invalid\n", *path)
		return 1
	}
	fmt.Fprintf(stdout, "switchd: %s: configuration is valid\n", *path)
	return 0
}

// The demo's addresses unless -http and -control say otherwise.
const (
	demoHTTPAddr    = "127.0.0.1:8080"
	demoControlAddr = "127.0.0.1:9180"
)

// runDemo starts two built-in upstreams and switchd on the embedded demo
// config with its state in a temporary folder, the proxy on httpAddr and
// the control API on controlAddr.
func runDemo(ctx context.Context, httpAddr, controlAddr string, stderr io.Writer) int {
	// Bound first: a newcomer whose port 8080 is taken must learn which
	// port and which flag, not read a stack of start-up lines.
	proxyLn, err := demoListen(httpAddr, "the proxy", "-http")
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	defer proxyLn.Close()
	controlLn, err := demoListen(controlAddr, "the control API", "-control")
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	defer controlLn.Close()
	dir, err := os.MkdirTemp("", "switchd-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	blue, err := StartDemoUpstream("blue")
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	defer blue.Close()
	green, err := StartDemoUpstream("green")
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	defer green.Close()
	cfg := config.Demo(blue.Addr, green.Addr, dir)
	cfg.Server.HTTPListen, cfg.Control.Listen = proxyLn.Addr().String(), controlLn.Addr().String()
	logger, level, err := NewLogger(cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	defer func() { _ = logger.Sync() }()
	try := fmt.Sprintf("demo: try  curl http://%s/  then  go run ./cmd/switchctl flip  and curl again", proxyLn.Addr())
	if controlLn.Addr().String() != demoControlAddr {
		try = fmt.Sprintf("demo: try  curl http://%s/  then  go run ./cmd/switchctl --addr %s flip  and curl again", proxyLn.Addr(), controlLn.Addr())
	}
	logger.Info(try, zap.String("blue", blue.Addr), zap.String("green", green.Addr), zap.String("state", dir))
	if err := Run(ctx, Options{Config: cfg, Logger: logger, Level: &level, Version: version(),
		ProxyListener: proxyLn, ControlListener: controlLn}); err != nil {
		fmt.Fprintf(stderr, "switchd: %v\n", err)
		return 1
	}
	return 0
}

// demoListen binds addr for what (the proxy, the control API), saying
// which flag moves it when the port is taken.
func demoListen(addr, what, flagName string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("-demo: %s is already in use (%s); choose another address with %s, e.g. %s 127.0.0.1:0 for any free port", addr, what, flagName, flagName)
	case err != nil:
		return nil, fmt.Errorf("-demo: %s (%s): %w; choose another address with %s", addr, what, err, flagName)
	}
	return ln, nil
}

// checkActive checks that every active colour has upstreams, reading
// state.json (without taking it over) when it can: after a flip to green,
// emptying blue is fine even though initial still says blue.
func checkActive(cfg *config.Config) error {
	data, err := os.ReadFile(filepath.Join(cfg.State.Dir, state.FileName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cfg.CheckActive(nil)
	case err != nil:
		return fmt.Errorf("state: %w", err)
	}
	f, err := state.Decode(data)
	if err != nil {
		return fmt.Errorf("state: %s: %w", filepath.Join(cfg.State.Dir, state.FileName), err)
	}
	return cfg.CheckActive(stateColors(f))
}

// stateColors answers config.CheckActive from a state file.
func stateColors(f state.File) func(string) (config.Color, bool) {
	return func(name string) (config.Color, bool) {
		rec, ok := f.Services[name]
		return rec.Active, ok
	}
}
