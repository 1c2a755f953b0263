// Package fleet keeps the records of every service in etcd, shared by the
// switchd hosts of one edge: each change is one compare-and-swap on the
// service's key (a Txn on its mod revision), every host watches the prefix
// and applies what others committed, and each host registers itself under
// the prefix with a lease so that the fleet can be listed.
//
// etcd being unreachable must not move traffic: the store keeps a local
// copy of what it last applied (state.json in state.dir, written as the
// file backend writes it) and a host starts from it when etcd cannot be
// reached; changes are refused meanwhile, except the guard's reverts,
// which hold locally and are written to etcd when it returns (the newest
// generation wins).
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
)

// Local is where the local copy goes (a *state.Store on state.dir).
type Local interface {
	Save(state.File) error
}

// Options configure a Store.
type Options struct {
	// Client talks to etcd (see NewClient); required. Close closes it.
	Client *clientv3.Client
	// Prefix is the key prefix, ending in "/"; required.
	Prefix string
	// Node names this host under Prefix + "nodes/"; required.
	Node string
	// Timeout bounds each request to etcd; zero means 2s.
	Timeout time.Duration
	// Local keeps the local copy; required.
	Local Local
	// LocalFile is what Local held at start, served when etcd cannot be
	// reached at start.
	LocalFile state.File
	// Logger; nil: no logs.
	Logger *zap.Logger
	// Up hears every change of reachability (true: etcd answers); nil: nobody.
	Up func(bool)
}

// Store is the etcd backend of the switchboard (a switchboard.Swapper).
// Create it with Open; run Run for its life.
type Store struct {
	o   Options
	log *zap.Logger
	cli *clientv3.Client

	up     atomic.Bool
	resync chan struct{} // a probe saw etcd come back
	beat   chan struct{} // what this host serves changed

	mu   sync.Mutex
	revs map[string]seen // each service's key as last seen
	file state.File      // what this host applied: the local copy
}

// Open loads every record under the prefix. When etcd cannot be reached
// it serves o.LocalFile, the local copy, and says so in the log.
func Open(ctx context.Context, o Options) (*Store, state.File, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &Store{o: o, log: o.Logger, cli: o.Client, revs: map[string]seen{},
		resync: make(chan struct{}, 1), beat: make(chan struct{}, 1)}
	s.file = state.File{Version: 1, Services: maps.Clone(o.LocalFile.Services)}
	if s.file.Services == nil {
		s.file.Services = map[string]state.Record{}
	}
	stored, _, err := s.load(ctx)
	if err != nil {
		s.setUp(false)
		s.log.Warn("etcd unreachable at start; serving the local copy until it answers", zap.Error(err))
		return s, state.File{Version: 1, Services: maps.Clone(s.file.Services)}, nil
	}
	s.setUp(true)
	for name, kv := range stored {
		s.file.Services[name] = kv.rec
		s.revs[name] = seen{kv.rev, kv.rec.Generation}
	}
	s.saveLocal()
	return s, state.File{Version: 1, Services: maps.Clone(s.file.Services)}, nil
}

func (s *Store) serviceKey(name string) string { return s.o.Prefix + "services/" + name }
func (s *Store) servicesPrefix() string        { return s.o.Prefix + "services/" }

// seen is a key's mod revision and the generation of the record it held,
// so that a Swap compares against the revision of the very record the
// board changed, not a newer one the watch brought meanwhile.
type seen struct {
	rev int64
	gen uint64
}

type storedRec struct {
	rec state.Record
	rev int64
}

// load reads every service's record and the revision it was read at.
func (s *Store) load(ctx context.Context) (map[string]storedRec, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.servicesPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	out := make(map[string]storedRec, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		name := string(kv.Key[len(s.servicesPrefix()):])
		rec, err := decodeRecord(name, kv.Value)
		if err != nil {
			s.log.Error("record in etcd not understood; ignored", zap.String("key", string(kv.Key)), zap.Error(err))
			continue
		}
		out[name] = storedRec{rec, kv.ModRevision}
	}
	return out, resp.Header.Revision, nil
}

// decodeRecord reads one record with state.json's own rules, so that etcd
// and the file accept the same records.
func decodeRecord(name string, value []byte) (state.Record, error) {
	n, err := json.Marshal(name)
	if err != nil {
		return state.Record{}, err
	}
	f, err := state.Decode([]byte(`{"version":1,"services":{` + string(n) + `:` + string(value) + `}}`))
	if err != nil {
		return state.Record{}, err
	}
	return f.Services[name], nil
}

// encodeRecord is the JSON of the whole record, so that fields added to
// state.Record travel without a change here.
func encodeRecord(rec state.Record) ([]byte, error) { return json.Marshal(rec) }

// storedKV is the record a failed compare-and-swap read instead (its Else
// branch), nil when there is none.
func storedKV(resp *clientv3.TxnResponse) *mvccpb.KeyValue {
	if len(resp.Responses) == 0 {
		return nil
	}
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) == 1 {
		return r.Kvs[0]
	}
	return nil
}

// sameStored reports whether stored is rec as encodeRecord writes it.
func sameStored(stored []byte, rec state.Record) bool {
	data, err := encodeRecord(rec)
	return err == nil && bytes.Equal(stored, data)
}

// Up reports whether etcd answered the last request.
func (s *Store) Up() bool { return s.up.Load() }

func (s *Store) setUp(up bool) {
	s.up.Store(up)
	if s.o.Up != nil {
		s.o.Up(up)
	}
}

// Swap commits next as service's record if the key still holds the
// revision this host last saw (switchboard.Swapper). While etcd is known
// to be unreachable it fails at once instead of holding the board's lock
// through a timeout.
func (s *Store) Swap(file state.File, service string, prev, next state.Record) error {
	if !s.Up() {
		return fmt.Errorf("%w: etcd is not reachable", switchboard.ErrStoreUnavailable)
	}
	data, err := encodeRecord(next)
	if err != nil {
		return err
	}
	key := s.serviceKey(service)
	s.mu.Lock()
	last, known := s.revs[service]
	s.mu.Unlock()
	if known && last.gen != prev.Generation {
		// The watch brought a newer record the board has not applied yet.
		return fmt.Errorf("%w: etcd holds generation %d, this host changed generation %d", switchboard.ErrStoreConflict, last.gen, prev.Generation)
	}
	cmp := clientv3.Compare(clientv3.ModRevision(key), "=", last.rev)
	if !known {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(data))).Else(clientv3.OpGet(key)).Commit()
	if err == nil && !resp.Succeeded {
		// The stored record may be the very one this change was made on,
		// at a revision the watch has not brought yet (another host's
		// first save, just after start): that is no conflict. Swap
		// against the revision it is stored at, once.
		if kv := storedKV(resp); kv != nil && sameStored(kv.Value, prev) {
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
			resp, err = s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(data))).Else(clientv3.OpGet(key)).Commit()
		}
	}
	if err != nil {
		s.down(err)
		return fmt.Errorf("%w: %v", switchboard.ErrStoreUnavailable, err)
	}
	if !resp.Succeeded {
		msg := "the record in etcd is newer than this host's"
		if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) == 1 {
			if rec, err := decodeRecord(service, r.Kvs[0].Value); err == nil {
				msg = fmt.Sprintf("etcd holds generation %d (%s), this host changed generation %d", rec.Generation, rec.Active, prev.Generation)
			}
		}
		return fmt.Errorf("%w: %s", switchboard.ErrStoreConflict, msg)
	}
	s.bumpRev(service, resp.Header.Revision, next.Generation)
	s.mu.Lock()
	s.file = state.File{Version: 1, Services: maps.Clone(file.Services)}
	s.saveLocalLocked()
	s.mu.Unlock()
	s.kickBeat()
	return nil
}

// Save keeps file as the local copy and writes to etcd each record that
// is newer than the stored one or not stored yet (the board's saves at
// start, on reload, and its retries of reverts made while etcd was away).
// While etcd is unreachable only the local copy is written; Run writes
// the rest when etcd answers again.
func (s *Store) Save(file state.File) error {
	s.mu.Lock()
	s.file = state.File{Version: 1, Services: maps.Clone(file.Services)}
	s.saveLocalLocked()
	s.mu.Unlock()
	if !s.Up() {
		return nil
	}
	s.requestResync()
	return nil
}

// saveLocal writes the local copy. s.mu must not be held.
func (s *Store) saveLocal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saveLocalLocked()
}

func (s *Store) saveLocalLocked() {
	err := s.o.Local.Save(s.file)
	if errors.Is(err, state.ErrNotDurable) {
		err = nil
	}
	if err != nil {
		// etcd holds the record; only a restart while etcd is away would
		// miss it.
		s.log.Error("local copy of the fleet's state not written", zap.Error(err))
	}
}

func (s *Store) requestResync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

func (s *Store) kickBeat() {
	select {
	case s.beat <- struct{}{}:
	default:
	}
}

// down marks etcd unreachable after a failed request.
func (s *Store) down(err error) {
	if s.Up() {
		s.log.Error("etcd unreachable; serving what was last applied, changes are refused until it answers", zap.Error(err))
	}
	s.setUp(false)
}

// Close closes the etcd client.
func (s *Store) Close() error { return s.cli.Close() }
