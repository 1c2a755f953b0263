package fleet

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Node is one host's entry under the prefix, kept alive by a lease.
type Node struct {
	// Node is the host's name ([state.etcd] node).
	Node string `json:"node"`
	// Address is its control API address; "" means unknown.
	Address string `json:"address"`
	// LastSeen is when the host last wrote its entry.
	LastSeen time.Time `json:"last_seen"`
	// Services maps each routed service to the generation the host serves.
	Services map[string]uint64 `json:"services"`
}

// beatEvery is how often a host rewrites its entry; leaseTTL how long the
// entry outlives a host that stopped (crashed, or lost etcd).
const (
	beatEvery = time.Second
	leaseTTL  = 5 // seconds
)

func (s *Store) nodesPrefix() string { return s.o.Prefix + "nodes/" }

// heartbeat keeps this host's entry under a lease, rewritten every
// beatEvery and at once when what it serves changes; on the way out it
// revokes the lease, so that the host leaves the list at once.
func (s *Store) heartbeat(ctx context.Context, self func() Node) {
	var lease clientv3.LeaseID
	key := s.nodesPrefix() + s.o.Node
	tick := time.NewTicker(beatEvery)
	defer tick.Stop()
	for {
		n := self()
		n.Node, n.LastSeen = s.o.Node, time.Now().UTC()
		data, err := json.Marshal(n)
		if err == nil {
			lease = s.beatOnce(ctx, key, data, lease)
		}
		select {
		case <-ctx.Done():
			if lease != 0 {
				rctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
				_, _ = s.cli.Revoke(rctx, lease)
				cancel()
			}
			return
		case <-tick.C:
		case <-s.beat:
		}
	}
}

// beatOnce writes the entry under lease (granting one when there is none)
// and returns the lease to use next time: 0 after a failure, so that a
// lease that expired while etcd was away is replaced.
func (s *Store) beatOnce(ctx context.Context, key string, data []byte, lease clientv3.LeaseID) clientv3.LeaseID {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	if lease == 0 {
		g, err := s.cli.Grant(ctx, leaseTTL)
		if err != nil {
			return 0
		}
		lease = g.ID
	}
	if _, err := s.cli.Put(ctx, key, string(data), clientv3.WithLease(lease)); err != nil {
		s.log.Debug("fleet entry not written", zap.Error(err))
		return 0
	}
	if _, err := s.cli.KeepAliveOnce(ctx, lease); err != nil {
		return 0
	}
	return lease
}

// Nodes lists the hosts whose entry is alive, by name.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.nodesPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}
