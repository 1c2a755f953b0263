// Package examples holds the tests of the files in examples/: the deploy
// script, the GitHub Actions workflow and the docker-compose setup.
package examples

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/ctl"
)

// TestMain runs the tests, or, when a fake started the test binary as one
// of its stand-ins (EXAMPLE_ROLE), that stand-in.
func TestMain(m *testing.M) {
	switch os.Getenv("EXAMPLE_ROLE") {
	case "app":
		runApp()
		os.Exit(0)
	case "switchctl":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := ctl.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
