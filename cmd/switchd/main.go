// Command switchd is the blue/green traffic switcher daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchd/switchd/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := daemon.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
