package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/buildinfo"
)

// Version is switchctl's version, printed by `switchctl version` and sent as
// the User-Agent, when a release sets it with -ldflags
// "-X github.com/switchd/switchd/internal/ctl.Version=v1.2.3"; "dev" (the
// zero) means: the module version or VCS commit the toolchain recorded.
var Version = "dev"

func version() string { return buildinfo.Version(Version) }

// Exit codes, as docs/switchctl.md lists them: deploy scripts branch on
// them, so a code never changes its meaning.
const (
	exitOK       = 0 // done
	exitFailed   = 1 // failed or unreachable
	exitUsage    = 2 // bad command line
	exitRefused  = 3 // unhealthy target, conflict, no previous, 401, 403
	exitReverted = 4 // the guard reverted while we waited for stable
	exitTimeout  = 5 // 408 from a long-poll, or our own deadline
)

const defaultAddr = "http://127.0.0.1:9180"

// Default deadlines: a wait is expected to take a while; watch runs until
// stopped.
const (
	defaultTimeout     = 30 * time.Second
	defaultWaitTimeout = 60 * time.Second
	// defaultUpgradeTimeout outlasts the daemon's own limit for a new
	// process to become ready (tableflip's minute), so that switchctl
	// reports how the upgrade ended rather than a timeout.
	defaultUpgradeTimeout = 90 * time.Second
	// defaultHealthTimeout is below the intervals health checks run at
	// (Docker's HEALTHCHECK, a load balancer's probe).
	defaultHealthTimeout = 3 * time.Second
)

const usage = `usage: switchctl [--addr URL|unix:PATH] [--token T] [--cacert F] [--cert F --key F] [--json] [--timeout D] COMMAND

commands:
  status   [SERVICE]          every service in a table, or one with its upstreams
  flip     [SERVICE] [--expect COLOR] [--force] [--reason TEXT] [--wait-stable] [--wait-fleet]
                              make the idle colour active
  set      SERVICE COLOR      make COLOR active (nothing changes if it already is)
  rollback [SERVICE]          go back to the previous colour
  wait     [SERVICE] (healthy COLOR | drained COLOR | stable) [--timeout D]
                              block until the condition holds
  deploy   SERVICE --upstream ADDR [--upstream ADDR...] [--smoke PATH] [--no-flip]
           [--wait-stable] [--reason TEXT]
                              put ADDRs into the idle pool, wait until healthy,
                              smoke-test PATH on each, flip, wait out the watch
  pool     SERVICE COLOR [ADDR...]
                              show a pool, or replace it with ADDRs
  pool     add|remove SERVICE COLOR ADDR
                              add or remove one upstream (a removed one drains)
  pool     reset SERVICE COLOR
                              hand the pool back to config.toml
  watch    [SERVICE]          print events as they happen
  reload                      make switchd re-read its configuration
  upgrade                     start the switchd binary on disk on the same sockets;
                              the old process drains (admin token; default timeout 90s)
  fleet                       the hosts sharing switchd's state: node, address, last
                              seen, the generation each serves
  log-level [LEVEL]           show, or set (debug, info, warn, error), the log level
  version                     print switchctl's version
  health                      exit 0 if switchd answers /healthz (no token needed)
  completion bash|zsh         print a shell completion script
  help [COMMAND]              print this, or one command's usage

flags (before or after the command and its arguments):
  --addr URL|unix:PATH    control API (default $SWITCHD_ADDR, else http://127.0.0.1:9180)
  --token T               bearer token (default $SWITCHD_TOKEN)
  --cacert FILE           https: PEM of the CA that signed switchd's control
                          certificate (default $SWITCHD_CACERT, else the system's)
  --cert FILE, --key FILE https: client certificate and key, for a control API
                          with client_ca (default $SWITCHD_CERT, $SWITCHD_KEY)
  --json                  print the API's JSON instead of tables
  --timeout D             deadline for the whole command (default 30s; wait 60s;
                          --wait-stable and deploy: each step its own, the wait
                          for stable as long as the guard's watch; watch none;
                          0 means none)
  --expect COLOR          flip/set/rollback: refuse unless COLOR is active
  --expect-generation N   flip/set/rollback: refuse unless the generation is N
  --force                 flip/set/rollback: skip the health gate
  --reason TEXT           flip/set/rollback: why, kept in switchd's state
  --wait-stable           flip/set/rollback: then wait until stable; with --json
                          prints {"change":…,"wait":…}
  --wait-fleet            flip/set/rollback: then wait until every live host of the
                          fleet serves the new generation

SERVICE may be left out when exactly one service is configured.
Exit codes: 0 done, 1 failed or unreachable, 2 usage, 3 refused,
4 reverted by the guard, 5 timed out.
`

// options are the knobs tests turn to keep retries and pauses short; Run
// uses defaultOptions.
type options struct {
	// retryMax is how many times a transient failure is retried (so
	// retryMax+1 tries in all).
	retryMax int
	// retryWaitMin and retryWaitMax bound the exponential backoff.
	retryWaitMin, retryWaitMax time.Duration
	// reconnectDelay is watch's pause before re-opening a stream that
	// ended, unless the server sent "retry:".
	reconnectDelay time.Duration
	// waitPause is the least time between two long-polls of wait, so that
	// a server answering 408 at once is not hammered.
	waitPause time.Duration
	// unreachableFor is how long failures to connect are retried: a
	// restart (socket activation queues connections; without it the port
	// is closed for well under a second) is ridden out, a switchd that is
	// not there is reported before the user gives up on the terminal.
	// 503 answers are retried up to retryMax and the deadline instead.
	unreachableFor time.Duration
}

// defaultOptions give up on an unreachable switchd within 2.5 s
// (0.25+0.5+1 s of backoff), and retry 503s 0.25+0.5+1+1 s.
var defaultOptions = options{
	retryMax:       4,
	retryWaitMin:   250 * time.Millisecond,
	retryWaitMax:   time.Second,
	unreachableFor: 2500 * time.Millisecond,
	reconnectDelay: time.Second,
	waitPause:      time.Second,
}

// Run runs switchctl with args (without the program name), reading
// $SWITCHD_ADDR and $SWITCHD_TOKEN through env (nil: no environment), and
// returns the exit code. Cancelling ctx stops the command; watch then ends
// with 0, anything else with 1.
func Run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	return run(ctx, args, env, stdout, stderr, defaultOptions)
}

// runner is one invocation: parsed arguments, the client, and what the
// error message is about.
type runner struct {
	inv    *invocation
	c      *client
	opts   options
	stdout io.Writer
	stderr io.Writer
	// subject prefixes an error message ("flip app"); svc is stripped from
	// the front of the server's message so that it is not said twice.
	subject, svc string
	// phased is set when no --timeout bounds the whole command: each step
	// then has its own deadline (stepContext).
	phased bool
}

func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer, opts options) int {
	if env == nil {
		env = func(string) string { return "" }
	}
	inv, err := parseArgs(args)
	var help *helpRequest
	if errors.As(err, &help) {
		fmt.Fprint(stdout, commandUsage(help.cmd))
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchctl: %s\n\n%s", sanitize(err.Error()), usageFor(err))
		return exitUsage
	}
	r := &runner{inv: inv, opts: opts, stdout: stdout, stderr: stderr, subject: inv.cmd}

	if inv.cmd == "version" {
		return r.version()
	}

	addr := inv.addr
	if addr == "" {
		addr = env("SWITCHD_ADDR")
	}
	if addr == "" {
		addr = defaultAddr
	}
	token := inv.token
	if token == "" {
		token = env("SWITCHD_TOKEN")
	}
	files := inv.tls.orEnv(env)
	r.c, err = newClient(addr, token, files, opts)
	if err == nil {
		// Who flips shows in state.json and logs as changed_by, unless the
		// server knows better from a token.
		r.c.actor = firstNonEmpty(env("SWITCHD_ACTOR"), env("USER"), env("LOGNAME"))
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchctl: %s\n\n%s", sanitize(err.Error()), commandUsage(inv.cmd))
		return exitUsage
	}
	defer r.c.close()

	timeout := defaultTimeout
	switch {
	case inv.change.waitStable && !inv.timeout.set, inv.cmd == "deploy" && !inv.timeout.set:
		// Each step gets its own deadline (phased): the wait for stable
		// lasts as long as the guard's watch, which only the flip tells.
		timeout = 0
		r.phased = true
	case inv.cmd == "wait", inv.change.waitStable:
		timeout = defaultWaitTimeout
	case inv.cmd == "watch":
		timeout = 0
	case inv.cmd == "upgrade":
		timeout = defaultUpgradeTimeout
	case inv.cmd == "health":
		timeout = defaultHealthTimeout
	}
	if inv.timeout.set {
		timeout = inv.timeout.d
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, &deadlineError{timeout})
		defer cancel()
	}

	switch inv.cmd {
	case "status":
		err = r.status(ctx)
	case "flip", "set", "rollback":
		err = r.change(ctx)
	case "deploy":
		err = r.deploy(ctx)
	case "pool":
		err = r.pool(ctx)
	case "wait":
		err = r.wait(ctx)
	case "watch":
		err = r.watch(ctx)
	case "reload":
		err = r.reload(ctx)
	case "upgrade":
		err = r.upgrade(ctx)
	case "log-level":
		err = r.logLevel(ctx)
	case "completion":
		err = r.completion(ctx)
	case "health":
		err = r.health(ctx)
	case "fleet":
		err = r.fleet(ctx)
	}
	if err != nil {
		return r.fail(ctx, err)
	}
	return exitOK
}

// fail prints err as "switchctl: SUBJECT: MESSAGE" and returns its exit code.
func (r *runner) fail(ctx context.Context, err error) int {
	code, msg := classify(ctx, r.svc, err)
	if r.subject != "" {
		msg = r.subject + ": " + msg
	}
	fmt.Fprintf(r.stderr, "switchctl: %s\n", sanitize(msg))
	if r.inv.json {
		r.printJSON(errorJSON(err, msg))
	}
	return code
}

// setService records which service the command is about, for messages.
func (r *runner) setService(name string) {
	r.svc = name
	r.subject = r.inv.cmd + " " + name
}

func (r *runner) version() int {
	if r.inv.json {
		data, _ := json.Marshal(map[string]string{"version": version(), "go_version": runtime.Version()})
		r.printJSON(data)
		return exitOK
	}
	fmt.Fprintf(r.stdout, "switchctl %s (%s)\n", version(), runtime.Version())
	return exitOK
}

// exitError is a failure decided by switchctl itself, with its exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// deadlineError is the cause of the command's context when --timeout (or
// its default) runs out; it is a context.DeadlineExceeded.
type deadlineError struct{ d time.Duration }

func (e *deadlineError) Error() string { return fmt.Sprintf("timed out after %s", e.d) }

// Is makes errors.Is(err, context.DeadlineExceeded) true.
func (e *deadlineError) Is(target error) bool { return target == context.DeadlineExceeded }

// errorJSON is what --json prints on stdout for a failure, so that a
// script reading stdout always gets JSON: switchd's own error body when it
// answered with one, else one of the same shape with a code of switchctl's
// ("unreachable", "timeout", "failed").
func errorJSON(err error, msg string) []byte {
	var ae *apiError
	if errors.As(err, &ae) && ae.body != nil {
		return ae.body
	}
	code := "failed"
	var te *transportError
	switch {
	case errors.As(err, &te):
		code = "unreachable"
	case errors.Is(err, context.DeadlineExceeded):
		code = "timeout"
	case errors.As(err, &ae) && ae.code != "":
		code = ae.code
	}
	data, _ := json.Marshal(api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: msg}})
	return data
}

// classify maps err to an exit code and the message for stderr.
func classify(ctx context.Context, svc string, err error) (int, string) {
	var (
		ee *exitError
		ae *apiError
		te *transportError
		de *deadlineError
	)
	switch {
	case errors.As(err, &ee):
		return ee.code, ee.msg
	case errors.As(err, &ae):
		return ae.exitCode(), trimSubject(ae.msg, svc)
	case errors.As(err, &te):
		return exitFailed, te.Error()
	case errors.As(err, &de):
		return exitTimeout, de.Error()
	case errors.Is(err, context.DeadlineExceeded):
		// The caller's context had a deadline of its own.
		return exitTimeout, "timed out"
	case errors.Is(err, context.Canceled):
		return exitFailed, "interrupted"
	}
	if ctx.Err() != nil {
		return classify(context.Background(), svc, context.Cause(ctx))
	}
	return exitFailed, err.Error()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
