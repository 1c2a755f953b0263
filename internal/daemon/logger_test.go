package daemon

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchd/switchd/internal/config"
)

// isoLine is a console line's start: an ISO 8601 time with the date.
var isoLine = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})\t`)

// TestConsoleLogColoursOnlyATerminal: the console format colours levels
// on a terminal only, and every line starts with a dated timestamp.
func TestConsoleLogColoursOnlyATerminal(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var buf bytes.Buffer
		l, _, err := newLogger(config.Log{Level: "info", Format: "console"}, zapcore.AddSync(&buf), tty)
		if err != nil {
			t.Fatal(err)
		}
		l.Warn("upstream down", zap.String("upstream", "127.0.0.1:1"))
		out := buf.String()
		if got := strings.Contains(out, "\x1b["); got != tty {
			t.Errorf("tty %v: colour codes %v in %q", tty, got, out)
		}
		if !isoLine.MatchString(out) {
			t.Errorf("tty %v: no dated ISO 8601 time at the start of %q", tty, out)
		}
	}
}

// TestErrorLinesCarryNoStackTrace: an error is one line in either format;
// only a DPanic (a bug) carries its stack.
func TestErrorLinesCarryNoStackTrace(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		var buf bytes.Buffer
		l, _, err := newLogger(config.Log{Level: "info", Format: format}, zapcore.AddSync(&buf), false)
		if err != nil {
			t.Fatal(err)
		}
		l.Error("automatic revert", zap.String("service", "app"))
		if out := buf.String(); strings.Count(out, "\n") != 1 || strings.Contains(out, "stacktrace") || strings.Contains(out, ".go:") && strings.Count(out, ".go:") > 1 {
			t.Errorf("%s: an error line with more than itself: %q", format, out)
		}
		buf.Reset()
		l.DPanic("impossible")
		if out := buf.String(); strings.Count(out, "\n") < 2 && !strings.Contains(out, "stacktrace") {
			t.Errorf("%s: a DPanic without its stack: %q", format, out)
		}
	}
}

// TestRevertIsOneLogLine runs the real binary, lets a failover revert a
// service, and reads its stderr: one line tells of the revert, and no line
// has a stack trace, in both formats.
func TestRevertIsOneLogLine(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
			ctl := freePort(t)
			cfg := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))
			cfg = strings.Replace(cfg, "[control]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[control]\nlisten = %q", ctl), 1)
			cfg = strings.Replace(cfg, "[log]\n", fmt.Sprintf("[log]\nformat = %q\n", format), 1)
			p := startServing(t, writeConfig(t, t.TempDir(), cfg), "http://"+ctl)
			waitHealthy(t, "http://"+ctl, "green")
			blue.Close()
			waitActive(t, "http://"+ctl, "green", 10*time.Second)
			// The revert's line is written before the API shows green; the
			// health lines around it are not what is counted.
			var reverts []string
			deadline := time.Now().Add(5 * time.Second)
			for len(reverts) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				reverts = nil
				for _, line := range strings.Split(p.stderr.String(), "\n") {
					if strings.Contains(line, "revert") {
						reverts = append(reverts, line)
					}
				}
			}
			out := p.stderr.String()
			if len(reverts) != 1 {
				t.Errorf("%d lines about the revert, want 1:\n%s", len(reverts), strings.Join(reverts, "\n"))
			}
			if strings.Contains(out, "stacktrace") || strings.Contains(out, "\ngithub.com/") || strings.Contains(out, "\n\t") {
				t.Errorf("a stack trace in the log:\n%s", out)
			}
			if format == "console" && strings.Contains(out, "\x1b[") {
				t.Errorf("colour codes on a stderr that is no terminal:\n%q", out)
			}
		})
	}
}
