// Package ctl is switchctl, the command-line client of switchd's control
// API. cmd/switchctl only wires it to the process; tests call Run directly.
//
// Run parses the command line (args.go), builds a client (client.go:
// retries, exit codes; tls.go), runs one command (commands.go, watch.go) and
// prints tables (format.go) with every server-supplied string sanitised
// (sanitize.go). Commands lists the commands for docs_test.go.
//
// ctl imports only control/api, the public JSON types. It must not import
// any internal package of the daemon, so that switchctl stays small and a
// client built against an older or newer switchd still decodes its answers.
// A new command is an entry in args.go's table, a case in Run, a line in
// the usage, and a section in docs/switchctl.md (docs_test.go fails without
// it).
package ctl
