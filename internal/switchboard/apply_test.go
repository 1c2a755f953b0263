package switchboard

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/switchd/switchd/internal/config"
)

func hosted(sc config.Service, hosts ...string) config.Service {
	sc.Hosts = hosts
	return sc
}

// TestApplyKeepsActiveColour: a reload never changes an active colour or a
// generation, and kept upstreams keep their connections and health.
func TestApplyKeepsActiveColour(t *testing.T) {
	f := newFixture(t)
	if _, err := f.board.Flip("app", Request{Actor: "deployer"}); err != nil {
		t.Fatal(err)
	}
	v0 := f.view(t, "app")
	keptUp := v0.Service.Snapshot().Pool(config.Blue).Upstreams()[0]
	data, fi := f.raw(t)
	calls := len(f.rec.all())

	sc := service("app", append([]string{blueAddrs[0]}, "127.0.0.1:13"), greenAddrs)
	sc.Initial = config.Blue // initial is ignored for a service with state
	sc.Hosts = []string{"app.example.com"}
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{sc}}); err != nil {
		t.Fatal(err)
	}
	v1 := f.view(t, "app")
	if !reflect.DeepEqual(v1.Record, v0.Record) {
		t.Errorf("reload changed the record: %+v -> %+v", v0.Record, v1.Record)
	}
	snap := v1.Service.Snapshot()
	if snap.Active != config.Green || snap.Generation != 1 {
		t.Errorf("snapshot active %v generation %d, want green 1", snap.Active, snap.Generation)
	}
	if v1.Service != v0.Service {
		t.Error("a kept service was replaced (in-flight counts and drains would be lost)")
	}
	blue := snap.Pool(config.Blue).Upstreams()
	if len(blue) != 2 || blue[0] != keptUp || blue[1].Address() != "127.0.0.1:13" {
		t.Errorf("blue pool after reload: %v", blue)
	}
	if len(v1.Config.Hosts) != 1 || v1.Config.Hosts[0] != "app.example.com" {
		t.Errorf("config not applied: hosts %v", v1.Config.Hosts)
	}
	if f.board.Router().Lookup("app.example.com") != v1.Service {
		t.Error("router does not route the new host")
	}
	f.unchanged(t, data, fi)
	if n := len(f.rec.all()); n != calls {
		t.Error("listener told of a reload")
	}
	// Flips go on from the same generation; the new upstream is gated.
	_, err := f.board.Flip("app", Request{})
	wantRefusal(t, err, ErrTargetUnhealthy, "blue: 1 of 2 upstreams healthy, 2 needed (127.0.0.1:13: not checked yet)")
	f.targets.Up("app", "127.0.0.1:13")
	if c, err := f.board.Flip("app", Request{}); err != nil || c.Generation != 2 {
		t.Errorf("flip after reload: %+v, %v", c, err)
	}
}

func TestApplyRefusesEmptyActive(t *testing.T) {
	f := newFixture(t)
	if _, err := f.board.Flip("app", Request{}); err != nil {
		t.Fatal(err)
	}
	v0 := f.view(t, "app")
	snap := v0.Service.Snapshot()
	data, fi := f.raw(t)

	cfg := &config.Config{Services: []config.Service{service("app", blueAddrs, nil)}}
	want := `config.toml: service "app": green.upstreams: the active colour green (from state.json) has no upstreams`
	if err := f.board.Check(cfg); err == nil || err.Error() != want {
		t.Errorf("Check: %v\nwant %s", err, want)
	}
	if _, err := f.board.Apply(cfg); err == nil || err.Error() != want {
		t.Errorf("Apply: %v\nwant %s", err, want)
	}
	v1 := f.view(t, "app")
	if v1.Service.Snapshot() != snap || len(v1.Config.Green.Upstreams) != 2 || !reflect.DeepEqual(v1.Record, v0.Record) {
		t.Error("a refused reload changed something")
	}
	f.unchanged(t, data, fi)

	// The idle colour may lose its upstreams.
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{service("app", nil, greenAddrs)}}); err != nil {
		t.Errorf("emptying the idle colour: %v", err)
	}
	_, err := f.board.Flip("app", Request{Force: true})
	wantRefusal(t, err, ErrTargetEmpty, "app: blue has no upstreams")
}

func TestApplyAddsAndRemovesServices(t *testing.T) {
	f := newFixture(t, hosted(service("app", blueAddrs, greenAddrs), "app.example.com"))
	f.targets.Up("app", blueAddrs...)
	f.targets.Up("app", greenAddrs...)
	apiUps := []string{"127.0.0.1:61"}
	f.targets.Up("api", apiUps...)
	f.targets.Up("api", "127.0.0.1:71")
	app := hosted(service("app", blueAddrs, greenAddrs), "app.example.com")
	api := hosted(service("api", apiUps, []string{"127.0.0.1:71"}), "api.example.com")

	// Added: starts on initial, persisted at once, routed.
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{app, api}}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.board.Names()); got != "[app api]" {
		t.Errorf("names %s", got)
	}
	rec, ok := f.saved(t).Services["api"]
	if !ok || rec.Active != config.Blue || rec.Reason != "initial" || rec.Generation != 0 {
		t.Errorf("state.json for the new service: %+v, %v", rec, ok)
	}
	apiSvc := f.view(t, "api").Service
	if f.board.Router().Lookup("api.example.com") != apiSvc {
		t.Error("the new service is not routed")
	}
	if up, _, total := f.board.Counts("api", config.Blue); up != 1 || total != 1 {
		t.Errorf("Counts of the new service: %d of %d", up, total)
	}
	if _, err := f.board.Flip("api", Request{Actor: "deployer"}); err != nil {
		t.Fatal(err)
	}

	// Removed: no longer routed or changeable; its state stays.
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{app}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.board.View("api"); ok {
		t.Error("removed service still has a view")
	}
	if s := f.board.Router().Lookup("api.example.com"); s != nil {
		t.Errorf("removed service still routed: %v", s.Name())
	}
	if _, _, total := f.board.Counts("api", config.Blue); total != 0 {
		t.Error("Counts still sees the removed service")
	}
	_, err := f.board.Flip("api", Request{})
	wantRefusal(t, err, ErrUnknownService, `unknown service "api"`)
	if rec := f.saved(t).Services["api"]; rec.Active != config.Green || rec.Generation != 1 {
		t.Errorf("state of the removed service lost: %+v", rec)
	}

	// Back again: on its state.json colour, not initial.
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{app, api}}); err != nil {
		t.Fatal(err)
	}
	v := f.view(t, "api")
	if v.Record.Active != config.Green || v.Record.Generation != 1 || v.Service.Snapshot().Active != config.Green {
		t.Errorf("re-added service: %+v, snapshot %v", v.Record, v.Service.Snapshot().Active)
	}
}

// TestApplyAllOrNothing: one bad service (its upstream TLS CA file is
// missing) leaves everything as it was, the other services' changes too.
func TestApplyAllOrNothing(t *testing.T) {
	f := newFixture(t)
	data, fi := f.raw(t)
	v0 := f.view(t, "app")
	snap := v0.Service.Snapshot()

	app := service("app", append(append([]string(nil), blueAddrs...), "127.0.0.1:13"), greenAddrs)
	bad := hosted(service("bad", []string{"127.0.0.1:81"}, nil), "bad.example.com")
	bad.UpstreamTLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{app, bad}}); err == nil {
		t.Fatal("Apply with a missing CA file succeeded")
	}
	if _, ok := f.board.View("bad"); ok {
		t.Error("the bad service was added")
	}
	v1 := f.view(t, "app")
	if v1.Service.Snapshot() != snap || len(v1.Config.Blue.Upstreams) != 2 {
		t.Error("the good service's change was applied although the reload failed")
	}
	f.unchanged(t, data, fi)
}

// TestApplyPersistFailure: a new service cannot be persisted, so nothing
// is applied.
func TestApplyPersistFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	f := newFixtureIn(t, dir, tg, service("app", blueAddrs, greenAddrs))
	repair := breakDir(t, dir)
	_, err := f.board.Apply(&config.Config{Services: []config.Service{
		service("app", blueAddrs, greenAddrs), hosted(service("api", []string{"127.0.0.1:61"}, nil), "api.example.com"),
	}})
	repair()
	if err == nil {
		t.Fatal("Apply succeeded although the new service could not be saved")
	}
	if _, ok := f.board.View("api"); ok {
		t.Error("the new service was added without being saved")
	}
	if _, ok := f.saved(t).Services["api"]; ok {
		t.Error("state.json has the service")
	}
}

// TestApplyRacesFlips reloads while other goroutines flip: no flip is lost
// and nothing races (run with -race).
func TestApplyRacesFlips(t *testing.T) {
	f := newFixture(t)
	cfg := &config.Config{Services: []config.Service{service("app", blueAddrs, greenAddrs)}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	flips := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_, err := f.board.Flip("app", Request{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				flips++
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := f.board.Apply(cfg); err != nil && !errors.Is(err, ErrPersist) {
				t.Error(err)
				return
			}
			f.board.Counts("app", config.Blue)
		}
	}()
	wg.Wait()
	v := f.view(t, "app")
	if v.Record.Generation != uint64(flips) || v.Service.Snapshot().Generation != uint64(flips) || v.Service.Snapshot().Active != v.Record.Active {
		t.Errorf("after %d flips: record %+v, snapshot %v/%d", flips, v.Record, v.Service.Snapshot().Active, v.Service.Snapshot().Generation)
	}
	if rec := f.saved(t).Services["app"]; !reflect.DeepEqual(rec, v.Record) {
		t.Errorf("state.json %+v, memory %+v", rec, v.Record)
	}
}

// TestApplyNewUpstreamTLSGetsNewTransport: a reload that changes a
// service's upstream TLS settings builds new upstreams (new transport),
// while an unchanged reload keeps them.
func TestApplyNewUpstreamTLSGetsNewTransport(t *testing.T) {
	f := newFixture(t)
	before := f.board.services["app"].svc.Snapshot().Pool(config.Blue).Upstreams()[0]
	cfg := &config.Config{Services: []config.Service{service("app", blueAddrs, greenAddrs)}}
	if _, err := f.board.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if got := f.board.services["app"].svc.Snapshot().Pool(config.Blue).Upstreams()[0]; got != before {
		t.Fatal("an unchanged reload replaced the upstream")
	}
	cfg.Services[0].UpstreamTLS.InsecureSkipVerify = true
	if _, err := f.board.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	after := f.board.services["app"].svc.Snapshot().Pool(config.Blue).Upstreams()[0]
	if after == before || after.Health() != before.Health() {
		t.Fatalf("new TLS settings: same upstream %v, same health %v", after == before, after.Health() == before.Health())
	}
}
