package fleet

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/testkit"
)

// etcd stops: every host keeps serving, changes are refused, a guard
// revert holds locally, a restarted host comes back on the local copy;
// etcd returns: the revert is written (the newest generation wins), every
// host catches up without a restart, and flips work again.
func TestEtcdAway(t *testing.T) {
	e := testkit.StartEtcd(t)
	a := startHost(t, "a", "", e.ClientURL)
	b := startHost(t, "b", "", e.ClientURL)
	c := startHost(t, "c", "", e.ClientURL)
	if _, err := a.board.Flip("app", switchboard.Request{}); err != nil {
		t.Fatal(err)
	}
	waitServing(t, config.Green, 1, a, b, c)

	e.Stop()
	stopped := time.Now()
	for _, h := range []*host{a, b, c} {
		waitUp(t, h, false)
	}
	t.Logf("etcd stopped: every host refuses changes after %v", time.Since(stopped))
	waitServing(t, config.Green, 1, a, b, c)
	if _, err := b.board.Flip("app", switchboard.Request{}); !isRefusal(err, switchboard.ErrUnavailable) {
		t.Fatalf("flip while etcd is away: %v, want unavailable", err)
	}
	waitServing(t, config.Green, 1, a, b, c)

	// c restarts while etcd is away: it serves its local copy.
	c.stop()
	c = startHost(t, "c", c.dir, e.ClientURL)
	waitServing(t, config.Green, 1, c)

	// a's guard reverts: it goes ahead on a alone and waits for etcd.
	ch, err := a.board.Revert("app", config.Green, config.Blue, switchboard.Guard, "test")
	if err != nil || !ch.Unsaved {
		t.Fatalf("revert while etcd is away: %+v, %v; want it held locally", ch, err)
	}
	waitServing(t, config.Blue, 2, a)
	waitServing(t, config.Green, 1, b, c)

	e.Start()
	e.WaitHealthy()
	back := time.Now()
	waitServing(t, config.Blue, 2, a, b, c)
	t.Logf("etcd back: a's revert written and served by every host after %v", time.Since(back))
	for _, h := range []*host{a, b, c} {
		waitUp(t, h, true)
	}
	t.Logf("etcd back: every host takes changes after %v", time.Since(back))
	if _, err := b.board.Flip("app", switchboard.Request{Expect: config.Blue}); err != nil {
		t.Fatalf("flip after etcd returned: %v", err)
	}
	waitServing(t, config.Green, 3, a, b, c)
}

// Two hosts revert the same generation while etcd is away: when it
// returns one record wins and every host serves it.
func TestEtcdAwaySplitResolves(t *testing.T) {
	e := testkit.StartEtcd(t)
	a := startHost(t, "a", "", e.ClientURL)
	b := startHost(t, "b", "", e.ClientURL)
	if _, err := a.board.Flip("app", switchboard.Request{}); err != nil {
		t.Fatal(err)
	}
	waitServing(t, config.Green, 1, a, b)
	e.Stop()
	waitUp(t, a, false)
	waitUp(t, b, false)
	if _, err := a.board.Revert("app", config.Green, config.Blue, switchboard.Guard, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.board.Activate("app", config.Blue, switchboard.Request{}); !isRefusal(err, switchboard.ErrUnavailable) {
		t.Fatalf("activate while etcd is away: %v", err)
	}
	if _, err := b.board.Revert("app", config.Green, config.Blue, switchboard.Failover, "b"); err != nil {
		t.Fatal(err)
	}
	e.Start()
	e.WaitHealthy()
	waitServing(t, config.Blue, 2, a, b)
	waitUp(t, a, true)
	waitUp(t, b, true)
	va, _ := a.board.View("app")
	vb, _ := b.board.View("app")
	for deadline := time.Now().Add(20 * time.Second); va.Record.Detail != vb.Record.Detail && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		va, _ = a.board.View("app")
		vb, _ = b.board.View("app")
	}
	if va.Record.Detail != vb.Record.Detail {
		t.Fatalf("hosts disagree on generation 2: a has %q, b has %q", va.Record.Detail, vb.Record.Detail)
	}
}

// A three-member cluster with one member killed keeps taking changes.
func TestClusterMemberKilled(t *testing.T) {
	members := testkit.StartEtcdCluster(t, 3)
	urls := []string{members[0].ClientURL, members[1].ClientURL, members[2].ClientURL}
	a := startHost(t, "a", "", urls...)
	b := startHost(t, "b", "", urls...)
	if _, err := a.board.Flip("app", switchboard.Request{}); err != nil {
		t.Fatal(err)
	}
	waitServing(t, config.Green, 1, a, b)
	members[0].Stop()
	killed := time.Now()
	// The first requests may go to the dead member; the client moves on.
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		waitUp(t, b, true)
		if _, err = b.board.Flip("app", switchboard.Request{Expect: config.Green}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("flip with one of three members killed: %v", err)
	}
	t.Logf("member killed: first flip accepted after %v", time.Since(killed))
	waitServing(t, config.Blue, 2, a, b)
}

// A runtime pool set on one host (a deploy there) is routed by every host:
// the record carries the pools, and a host applying another's record
// routes them as it routes its own.
func TestPoolChangeReachesEveryHost(t *testing.T) {
	e := testkit.StartEtcd(t)
	a := startHost(t, "a", "", e.ClientURL)
	b := startHost(t, "b", "", e.ClientURL)
	const fresh = "127.0.0.1:65001"
	if _, err := a.board.SetPool(context.Background(), "app", config.Green, []string{fresh}, switchboard.PoolRequest{Detail: "deploy"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, _ := b.board.View("app")
		var routed []string
		for _, u := range v.Service.Snapshot().Pool(config.Green).Upstreams() {
			routed = append(routed, u.Address())
		}
		if v.Source(config.Green) == switchboard.FromAPI && slices.Equal(v.Config.Green.Upstreams, []string{fresh}) && slices.Equal(routed, []string{fresh}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b: green pool %v (source %v), routed %v; want [%s] from the API", v.Config.Green.Upstreams, v.Source(config.Green), routed, fresh)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
