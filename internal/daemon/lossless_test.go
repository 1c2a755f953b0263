package daemon

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestRestartsLoseNoPost: 8 kept-alive clients send POSTs that nothing may
// resend while switchd restarts 50 times as systemd restarts it with socket
// activation (SIGTERM, wait for the exit, start the successor on the same
// sockets), then upgrades itself 50 times (POST /v1/upgrade and SIGUSR2 in
// turn). Every request must be answered.
func TestRestartsLoseNoPost(t *testing.T) {
	echo, green := echoBackend(t), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), addrOf(echo), addrOf(green)))
	sd := newSystemd(t, cfgPath)
	p := sd.start("-pid-file", sd.pidFile())
	sd.waitServing(p.done)

	for _, kind := range []string{"restart", "upgrade"} {
		load := startStrictPosts(8, sd.proxyURL+"/")
		started := time.Now()
		for i := 0; i < 50; i++ {
			time.Sleep(20 * time.Millisecond)
			if kind == "restart" {
				sigterm(t, p, sd)
				p = sd.start("-pid-file", sd.pidFile())
				sd.waitServing(p.done)
				continue
			}
			var next *sdProc
			if i%2 == 0 {
				var failure string
				if next, failure = sd.upgrade(p); next == nil {
					t.Fatalf("upgrade %d: %s\n%s", i, failure, sd.output())
				}
			} else {
				next = sd.signalUpgrade(p)
			}
			exited(t, p, sd) // tableflip allows the next upgrade only then
			p = next
		}
		time.Sleep(100 * time.Millisecond)
		ok, lost, errs := load.finish()
		t.Logf("50 %ss in %v: %d POSTs answered, %d lost", kind, time.Since(started).Round(time.Millisecond), ok, lost)
		if lost != 0 || ok == 0 {
			t.Errorf("%ss: %d lost, %d answered: %v", kind, lost, ok, errs)
		}
	}
	sigterm(t, p, sd)
}
