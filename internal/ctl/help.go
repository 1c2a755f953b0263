package ctl

import (
	"errors"
	"fmt"
	"strings"
)

// helpRequest asks for the usage of cmd ("" for all of switchctl) on
// stdout and exit 0.
type helpRequest struct{ cmd string }

func (h *helpRequest) Error() string { return "help requested" }

// usageError is a bad command line; cmd, when known, chooses the usage
// printed after the message.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// globalFlags is the line every command's usage ends with.
const globalFlags = `
global flags (before or after the command): --addr URL|unix:PATH, --token T,
  --cacert F, --cert F --key F, --json, --timeout D; see switchctl help`

const changeFlagsHelp = `

flags:
  --expect COLOR          refuse unless COLOR is active
  --expect-generation N   refuse unless the generation is N
  --force                 skip the health gate
  --reason TEXT           why, kept in switchd's state
  --wait-stable           then wait until stable: without --timeout, as long
                          as the guard's watch lasts, plus 30s
  --wait-fleet            then wait until every live host serves the change`

// commandHelp is each command's usage: synopsis, then what it does.
var commandHelp = map[string]string{
	"status": `status [SERVICE]

Every service in a table, or one service with its upstreams and guard.`,
	"flip": `flip [SERVICE] [--expect COLOR] [--expect-generation N] [--force] [--reason TEXT] [--wait-stable]

Make the idle colour active. Refused (exit 3) when it is not healthy, unless --force.` + changeFlagsHelp,
	"set": `set SERVICE COLOR [--expect COLOR] [--force] [--reason TEXT] [--wait-stable]

Make COLOR (blue or green) active; nothing changes if it already is.` + changeFlagsHelp,
	"rollback": `rollback [SERVICE] [--expect COLOR] [--force] [--reason TEXT] [--wait-stable]

Go back to the previous colour (exit 3 if there is none).` + changeFlagsHelp,
	"wait": `wait [SERVICE] (healthy COLOR | drained COLOR | stable) [--timeout D]

Block until the condition holds (default timeout 60s): exit 0 reached,
4 the guard reverted (stable), 5 timed out.`,
	"deploy": `deploy SERVICE --upstream ADDR [--upstream ADDR...] [--smoke PATH] [--no-flip]
       [--wait-stable] [--reason TEXT] [--timeout D]

Put ADDRs into the idle pool, wait until they are healthy, smoke-test PATH on
each (its status must match expect_status), flip (with the generation and pool
version of the moment the deploy started), and with --wait-stable wait out the
guard's watch. One line per step. Nothing moves before the flip when a step
fails: exit 1 failed, 3 refused (unhealthy, another deploy won), 4 the guard
reverted, 5 timed out.`,
	"pool": `pool SERVICE COLOR [ADDR...]
pool add|remove SERVICE COLOR ADDR
pool reset SERVICE COLOR

Show a pool, or replace it with ADDRs; add or remove one upstream (a removed
one drains like a flip's old colour); or hand the pool back to config.toml.
A change to the active pool is checked first and refused (exit 3) unless the
pool would still meet min_healthy.`,
	"watch": `watch [SERVICE]

Print the current state, then every event as it happens, until interrupted.
Reconnects (and says so) when switchd restarts.`,
	"reload": `reload

Make switchd re-read its configuration; exit 1, with the reason, when the
file is bad (the running configuration stays).`,
	"upgrade": `upgrade

Start the switchd binary on disk on the same sockets; the old process
drains. Needs an admin token; default timeout 90s.`,
	"log-level": `log-level [LEVEL]

Show the log level, or set it to debug, info, warn or error (admin token).`,
	"fleet": `fleet

The hosts that share this switchd's state (backend etcd): node, control
address, last seen, and the generation each serves per service.`,
	"version": `version

Print switchctl's version.`,
	"health": `health

Exit 0 when switchd answers GET /healthz, 1 when not (default timeout 3s).
Needs no token: for container health checks and probes.`,
	"completion": `completion bash|zsh

Print a shell completion script: commands, flags, and service names
(asked of switchd) where a SERVICE goes. For bash:
  source <(switchctl completion bash)`,
	"help": `help [COMMAND]

Print the usage of switchctl, or of one command.`,
}

// commandUsage is the usage of cmd, or all of switchctl's.
func commandUsage(cmd string) string {
	h, ok := commandHelp[cmd]
	if !ok {
		return usage
	}
	return "usage: switchctl " + h + "\n" + globalFlags + "\n"
}

// usageFor returns the usage to print after err: the command's own when
// err knows it.
func usageFor(err error) string {
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd != "" {
		return commandUsage(ue.cmd)
	}
	return usage
}

// helpArgs turns "help [COMMAND]" into a request.
func helpArgs(args []string) error {
	switch {
	case len(args) == 0:
		return &helpRequest{}
	case len(args) > 1:
		return &usageError{"help", fmt.Errorf("help: too many arguments: %s", strings.Join(args, " "))}
	}
	if _, ok := commandHelp[args[0]]; !ok {
		return &usageError{"", fmt.Errorf("help: unknown command %q", args[0])}
	}
	return &helpRequest{args[0]}
}
