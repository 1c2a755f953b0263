// Command switchctl is the command-line client of switchd's control API;
// see package switchd/ctl and docs/switchctl.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchd/switchd/internal/ctl"
)

func main() {
	// Ctrl-C ends a wait or watch cleanly instead of killing it mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
