package control

import (
	"net/url"
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestPoolEndpoints: replace, add, remove and reset a pool through the
// API; the service shows idle, each pool's source and the pools version;
// bad input is 400, an unknown service 404, a stale expectation 409; each
// change and refusal is one audit line naming the colour.
func TestPoolEndpoints(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := newFixture(t, fixtureOptions{logger: zap.New(core)})
	f.targets.Up("app", "127.0.0.1:31", "127.0.0.1:32")
	base := "/v1/services/app/pools/green"

	code, body := f.do(t, "PUT", base, `{"upstreams":["127.0.0.1:31"],"expect_generation":0,"expect_pools_version":0,"reason":"deploy 4f2a"}`)
	res := decode[PoolResult](t, body)
	if code != 200 || !res.Changed || !slices.Equal(res.To, []string{"127.0.0.1:31"}) || !slices.Equal(res.From, greenAddrs) {
		t.Fatalf("PUT: %d %s", code, body)
	}
	s := res.Service
	if s.Idle != "green" || s.PoolsVersion != 1 || s.Pools["green"].Source != "api" || s.Pools["blue"].Source != "config" || s.Health == nil {
		t.Fatalf("service after PUT: idle %q, version %d, sources %q/%q", s.Idle, s.PoolsVersion, s.Pools["blue"].Source, s.Pools["green"].Source)
	}
	line := logs.FilterLoggerName("audit").All()
	if last := line[len(line)-1].ContextMap(); last["action"] != "pool_set" || last["color"] != "green" || last["reason"] != "deploy 4f2a" || last["result"] != "ok" {
		t.Errorf("audit line %v", last)
	}

	code, body = f.do(t, "POST", base+"/upstreams", `{"address":"127.0.0.1:32"}`)
	if res := decode[PoolResult](t, body); code != 200 || !slices.Equal(res.To, []string{"127.0.0.1:31", "127.0.0.1:32"}) {
		t.Fatalf("POST upstreams: %d %s", code, body)
	}
	code, body = f.do(t, "DELETE", base+"/upstreams/"+url.PathEscape("127.0.0.1:31"), "")
	if res := decode[PoolResult](t, body); code != 200 || !slices.Equal(res.To, []string{"127.0.0.1:32"}) {
		t.Fatalf("DELETE upstream: %d %s", code, body)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"stale pools version", "PUT", base, `{"upstreams":["127.0.0.1:33"],"expect_pools_version":0}`, 409, CodeConflict},
		{"bad colour", "PUT", "/v1/services/app/pools/purple", `{"upstreams":[]}`, 400, CodeBadRequest},
		{"bad address", "PUT", base, `{"upstreams":["http://x/path"]}`, 400, CodeBadRequest},
		{"other colour's", "POST", base + "/upstreams", `{"address":"` + blueAddrs[0] + `"}`, 400, CodeBadRequest},
		{"no address", "POST", base + "/upstreams", `{}`, 400, CodeBadRequest},
		{"empty active", "PUT", "/v1/services/app/pools/blue", `{"upstreams":[]}`, 409, CodeTargetEmpty},
		{"unknown service", "PUT", "/v1/services/nope/pools/green", `{"upstreams":[]}`, 404, CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := logs.FilterLoggerName("audit").Len()
			code, body := f.do(t, tc.method, tc.path, tc.body)
			wantError(t, code, body, tc.status, tc.code, "")
			if tc.status != 404 && logs.FilterLoggerName("audit").Len() != n+1 {
				t.Errorf("no audit line for a refusal")
			}
		})
	}
	if got := f.record(t); !slices.Equal(got.Pools["green"], []string{"127.0.0.1:32"}) {
		t.Fatalf("refusals changed the pool: %v", got.Pools)
	}

	code, body = f.do(t, "DELETE", base, "")
	if res := decode[PoolResult](t, body); code != 200 || res.Service.Pools["green"].Source != "config" || !slices.Equal(res.To, greenAddrs) {
		t.Fatalf("DELETE pool: %d %s", code, body)
	}
}
