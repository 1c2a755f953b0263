package fleet

import (
	"context"
	"maps"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/state"
)

// probeEvery is how often Run asks etcd whether it answers. It bounds how
// long changes stay refused after etcd is back.
const probeEvery = 500 * time.Millisecond

// Apply applies a record another host committed (switchboard's
// ApplyRemote) and reports whether it was newer than the one served.
type Apply func(service string, rec state.Record) bool

// Run keeps this host in step with the fleet until ctx is done: it watches
// the prefix and applies what other hosts commit, probes etcd, and when
// etcd answers again after an outage it reads everything back and writes
// the changes made meanwhile (the newest generation wins). It also keeps
// this host's entry under the prefix (see heartbeat).
func (s *Store) Run(ctx context.Context, apply Apply, self func() Node) {
	done := make(chan struct{}, 2)
	go func() { s.probe(ctx); done <- struct{}{} }()
	go func() { s.heartbeat(ctx, self); done <- struct{}{} }()
	defer func() { <-done; <-done }()
	for ctx.Err() == nil {
		rev, err := s.reconcile(ctx, apply)
		if err != nil {
			s.down(err)
			select {
			case <-ctx.Done():
			case <-s.resync:
			case <-time.After(probeEvery):
			}
			continue
		}
		s.setUp(true)
		s.watch(ctx, rev, apply)
	}
}

// watch applies every change after rev until the stream fails, a resync
// is asked for, or ctx is done.
func (s *Store) watch(ctx context.Context, rev int64, apply Apply) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := s.cli.Watch(clientv3.WithRequireLeader(wctx), s.servicesPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resync:
			return
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				if ok {
					s.log.Warn("etcd watch ended; reading the records again", zap.Error(wr.Err()))
				}
				return
			}
			for _, ev := range wr.Events {
				if ev.Type != clientv3.EventTypePut {
					s.log.Warn("record deleted in etcd; this host keeps serving it", zap.String("key", string(ev.Kv.Key)))
					continue
				}
				name := string(ev.Kv.Key[len(s.servicesPrefix()):])
				rec, err := decodeRecord(name, ev.Kv.Value)
				if err != nil {
					s.log.Error("record in etcd not understood; ignored", zap.String("key", string(ev.Kv.Key)), zap.Error(err))
					continue
				}
				s.deliver(name, rec, ev.Kv.ModRevision, apply)
			}
		}
	}
}

// reconcile brings etcd and this host together after a (re)connect: a
// record etcd lacks is created, one this host changed while etcd was away
// (a higher generation) is written with a compare-and-swap, and every
// other stored record is applied. It returns the revision it read at.
func (s *Store) reconcile(ctx context.Context, apply Apply) (int64, error) {
	stored, rev, err := s.load(ctx)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	local := maps.Clone(s.file.Services)
	s.mu.Unlock()
	for name, lrec := range local {
		st, ok := stored[name]
		if ok && lrec.Generation <= st.rec.Generation {
			continue
		}
		key := s.serviceKey(name)
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if ok {
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", st.rev)
			s.log.Warn("writing a change made while etcd was unreachable (the newest generation wins)",
				zap.String("service", name), zap.Uint64("generation", lrec.Generation), zap.Stringer("active", lrec.Active),
				zap.Uint64("stored_generation", st.rec.Generation))
		}
		data, err := encodeRecord(lrec)
		if err != nil {
			return 0, err
		}
		tctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		resp, err := s.cli.Txn(tctx).If(cmp).Then(clientv3.OpPut(key, string(data))).Commit()
		cancel()
		if err != nil {
			return 0, err
		}
		if resp.Succeeded {
			s.bumpRev(name, resp.Header.Revision, lrec.Generation)
		} else {
			// Another host wrote first; the watch from rev brings it.
			s.log.Warn("another host wrote this record first; applying its", zap.String("service", name))
		}
		delete(stored, name)
	}
	for name, st := range stored {
		s.deliver(name, st.rec, st.rev, apply)
	}
	return rev, nil
}

// bumpRev records the mod revision of a service's key, never going back
// (a watch event can arrive after the Swap that followed it).
func (s *Store) bumpRev(name string, rev int64, gen uint64) {
	s.mu.Lock()
	if rev > s.revs[name].rev {
		s.revs[name] = seen{rev, gen}
	}
	s.mu.Unlock()
}

// deliver applies a stored record and, when it was news, keeps it in the
// local copy. apply runs without s.mu: it takes the board's lock, under
// which the board calls Swap.
func (s *Store) deliver(name string, rec state.Record, rev int64, apply Apply) {
	s.bumpRev(name, rev, rec.Generation)
	if !apply(name, rec) {
		return
	}
	s.mu.Lock()
	svcs := maps.Clone(s.file.Services)
	svcs[name] = rec
	s.file = state.File{Version: 1, Services: svcs}
	s.saveLocalLocked()
	s.mu.Unlock()
	s.kickBeat()
}

// probe asks etcd every probeEvery whether it answers, so that changes are
// refused at once while it does not and the records are read back as soon
// as it does again.
func (s *Store) probe(ctx context.Context) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		_, err := s.cli.Get(pctx, s.servicesPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.down(err)
		case err == nil && !s.Up():
			s.log.Info("etcd answers again; catching up")
			s.requestResync()
		}
	}
}
