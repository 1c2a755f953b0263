package ctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// invocation is a parsed command line.
type invocation struct {
	cmd  string
	args []string // positional arguments after the command

	addr, token string // "": from the environment, else the default
	tls         tlsFiles
	json        bool
	timeout     durationFlag
	change      changeFlags
	deploy      deployFlags
}

// deployFlags are the options of deploy.
type deployFlags struct {
	upstreams listFlag
	smoke     string
	noFlip    bool
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }

func (f *listFlag) Set(s string) error {
	if s == "" {
		return errors.New("want an address such as 10.0.0.5:8080")
	}
	*f = append(*f, s)
	return nil
}

// changeFlags are the options of flip, set and rollback.
type changeFlags struct {
	expect     string
	expectGen  uintFlag
	force      bool
	reason     string
	waitStable bool
	waitFleet  bool
}

// commands lists every command with how many positional arguments it takes.
var commands = map[string]struct{ min, max int }{
	"status":     {0, 1},
	"flip":       {0, 1},
	"set":        {1, 2},
	"rollback":   {0, 1},
	"wait":       {1, 3},
	"watch":      {0, 1},
	"reload":     {0, 0},
	"upgrade":    {0, 0},
	"log-level":  {0, 1},
	"version":    {0, 0},
	"deploy":     {0, 1},
	"pool":       {2, 1 << 10},
	"health":     {0, 0},
	"completion": {1, 1},
	"fleet":      {0, 0},
}

// logLevels are the levels log-level accepts, as switchd's [log].level.
var logLevels = []string{"debug", "info", "warn", "error"}

// parseArgs reads global flags up to the command, then the command's
// arguments with flags (global ones included) anywhere among them: scripts
// write `switchctl wait app healthy green --timeout 5s` as often as
// `switchctl --timeout 5s wait app healthy green`.
func parseArgs(args []string) (*invocation, error) {
	inv := &invocation{}
	fs := newFlagSet("switchctl")
	inv.globals(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{}
		}
		return nil, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return nil, errors.New("no command")
	}
	inv.cmd = rest[0]
	if inv.cmd == "help" {
		return nil, helpArgs(rest[1:])
	}
	arity, ok := commands[inv.cmd]
	if !ok {
		return nil, fmt.Errorf("unknown command %q", inv.cmd)
	}
	inv, err := inv.parseCommand(rest[1:], arity)
	if err != nil {
		var h *helpRequest
		if !errors.As(err, &h) {
			err = &usageError{inv.cmd, err}
		}
	}
	return inv, err
}

// parseCommand parses the arguments after the command.
func (inv *invocation) parseCommand(rest []string, arity struct{ min, max int }) (*invocation, error) {
	fs := newFlagSet("switchctl " + inv.cmd)
	inv.globals(fs)
	switch inv.cmd {
	case "flip", "set", "rollback":
		c := &inv.change
		fs.StringVar(&c.expect, "expect", "", "")
		fs.Var(&c.expectGen, "expect-generation", "")
		fs.BoolVar(&c.force, "force", false, "")
		fs.StringVar(&c.reason, "reason", "", "")
		fs.BoolVar(&c.waitStable, "wait-stable", false, "")
		fs.BoolVar(&c.waitFleet, "wait-fleet", false, "")
	case "deploy":
		fs.Var(&inv.deploy.upstreams, "upstream", "")
		fs.StringVar(&inv.deploy.smoke, "smoke", "", "")
		fs.BoolVar(&inv.deploy.noFlip, "no-flip", false, "")
		fs.StringVar(&inv.change.reason, "reason", "", "")
		fs.BoolVar(&inv.change.waitStable, "wait-stable", false, "")
	case "pool":
		fs.StringVar(&inv.change.reason, "reason", "", "")
	}
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		return inv, &helpRequest{inv.cmd}
	}
	if err != nil {
		return inv, err
	}
	inv.args = pos

	switch n := len(pos); {
	case n < arity.min:
		return inv, fmt.Errorf("%s: missing arguments", inv.cmd)
	case n > arity.max:
		return inv, fmt.Errorf("%s: too many arguments: %s", inv.cmd, strings.Join(pos, " "))
	}
	if inv.change.expect != "" && !isColor(inv.change.expect) {
		return inv, fmt.Errorf("%s: bad --expect %q: want blue or green", inv.cmd, inv.change.expect)
	}
	if inv.timeout.d < 0 {
		return inv, fmt.Errorf("bad --timeout %s: must not be negative", inv.timeout.d)
	}
	return inv, inv.check()
}

// check validates the positional arguments of set and wait, which say
// colours and conditions that switchctl can judge without asking.
func (inv *invocation) check() error {
	switch inv.cmd {
	case "set":
		c := inv.args[len(inv.args)-1]
		if !isColor(c) {
			return fmt.Errorf("set: bad colour %q: want blue or green", c)
		}
	case "wait":
		if _, _, err := waitArgs(inv.args); err != nil {
			return fmt.Errorf("wait: %w", err)
		}
	case "deploy":
		if len(inv.deploy.upstreams) == 0 {
			return errors.New("deploy: --upstream ADDR is required (once per new upstream)")
		}
		if p := inv.deploy.smoke; p != "" && !strings.HasPrefix(p, "/") {
			return fmt.Errorf("deploy: bad --smoke %q: want a path such as /healthz", p)
		}
	case "pool":
		if _, err := poolArgs(inv.args); err != nil {
			return fmt.Errorf("pool: %w", err)
		}
	case "log-level":
		if len(inv.args) == 1 && !slices.Contains(logLevels, inv.args[0]) {
			return fmt.Errorf("log-level: bad level %q: want %s", inv.args[0], strings.Join(logLevels, ", "))
		}
	case "completion":
		if sh := inv.args[0]; sh != "bash" && sh != "zsh" && sh != "services" {
			return fmt.Errorf("completion: unknown shell %q: want bash or zsh", sh)
		}
	}
	return nil
}

// globals registers the flags every command accepts. They may appear on
// both sides of the command, so each flag set starts from what the
// previous one parsed.
func (inv *invocation) globals(fs *flag.FlagSet) {
	fs.StringVar(&inv.addr, "addr", inv.addr, "")
	fs.StringVar(&inv.token, "token", inv.token, "")
	fs.StringVar(&inv.tls.caCert, "cacert", inv.tls.caCert, "")
	fs.StringVar(&inv.tls.cert, "cert", inv.tls.cert, "")
	fs.StringVar(&inv.tls.key, "key", inv.tls.key, "")
	fs.BoolVar(&inv.json, "json", inv.json, "")
	fs.Var(&inv.timeout, "timeout", "")
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors and usage are printed by run, once and in our words.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseInterleaved parses flags anywhere in args and returns the positional
// arguments in order. The flag package stops at the first non-flag, so it
// is restarted after each one; after "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// waitArgs splits wait's arguments into the service ("" when left out) and
// the API's until value ("healthy:green", "drained:blue", "stable").
func waitArgs(args []string) (svc, until string, err error) {
	cond := args
	switch {
	case len(args) == 3:
		svc, cond = args[0], args[1:]
	case len(args) == 2 && args[0] != api.UntilHealthy && args[0] != api.UntilDrained:
		svc, cond = args[0], args[1:]
	}
	switch {
	case len(cond) == 1 && cond[0] == api.UntilStable:
		return svc, api.UntilStable, nil
	case len(cond) == 2 && (cond[0] == api.UntilHealthy || cond[0] == api.UntilDrained):
		if !isColor(cond[1]) {
			return "", "", fmt.Errorf("bad colour %q: want blue or green", cond[1])
		}
		return svc, cond[0] + ":" + cond[1], nil
	}
	return "", "", fmt.Errorf("bad condition %q: want healthy COLOR, drained COLOR or stable", strings.Join(cond, " "))
}

func isColor(s string) bool { return s == "blue" || s == "green" }

// durationFlag is a duration flag that knows whether it was given, since
// the default depends on the command. A bare number means seconds.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil {
			return errors.New(`want a duration such as "90s" or "2m"`)
		}
		d = time.Duration(n * float64(time.Second))
	}
	f.d, f.set = d, true
	return nil
}

// uintFlag is an optional unsigned number; nil v means not given.
type uintFlag struct{ v *uint64 }

func (f *uintFlag) String() string {
	if f == nil || f.v == nil {
		return ""
	}
	return strconv.FormatUint(*f.v, 10)
}

func (f *uintFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("want a generation number")
	}
	f.v = &n
	return nil
}
