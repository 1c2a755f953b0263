package daemon

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/fleet"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
)

// openFleet opens the etcd backend over the local copy (store, file) when
// [state] backend is "etcd"; otherwise it hands state.json back as the
// board's store.
func (d *daemon) openFleet(ctx context.Context, c config.State, store *state.Store, file state.File) (switchboard.Store, state.File, error) {
	d.node = nodeName(c.Etcd.Node)
	if c.Backend != "etcd" {
		return store, file, nil
	}
	cli, err := fleet.NewClient(c.Etcd, d.log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.ErrorLevel)))
	if err != nil {
		return nil, state.File{}, err
	}
	fs, file, err := fleet.Open(ctx, fleet.Options{
		Client: cli, Prefix: c.Etcd.Prefix, Node: d.node, Timeout: c.Etcd.DialTimeout.D(),
		Local: store, LocalFile: file, Logger: d.log.Named("fleet"),
		Up: func(up bool) {
			v := 0.0
			if up {
				v = 1
			}
			d.metrics.StoreUp.Set(v)
		},
	})
	if err != nil {
		_ = cli.Close()
		return nil, state.File{}, err
	}
	d.fleet = fs
	return fs, file, nil
}

// nodeName is this host's name in the fleet: node, else the hostname.
func nodeName(node string) string {
	if node != "" {
		return node
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "switchd"
}

// runFleet keeps this host in step with the fleet until ctx is done, then
// closes the etcd client. d.wg counts it.
func (d *daemon) runFleet(ctx context.Context) {
	defer d.wg.Done()
	defer func() { _ = d.fleet.Close() }()
	d.fleet.Run(ctx, d.board.ApplyRemote, func() fleet.Node { return fleet.Node{Address: d.controlAddr(), Services: d.served()} })
}

// served maps each routed service to the generation this host serves.
func (d *daemon) served() map[string]uint64 {
	out := map[string]uint64{}
	for _, name := range d.board.Names() {
		if v, ok := d.board.View(name); ok {
			out[name] = v.Service.Snapshot().Generation
		}
	}
	return out
}

func (d *daemon) controlAddr() string {
	if d.controlLn == nil {
		return ""
	}
	return d.controlLn.Addr().String()
}

// fleetList answers GET /v1/fleet: the live hosts from etcd, or this host
// alone with the file backend.
func (d *daemon) fleetList(ctx context.Context) (control.Fleet, error) {
	if d.fleet == nil {
		return control.Fleet{Backend: "file", StoreUp: true, Self: d.node, Nodes: []control.FleetNode{
			{Node: d.node, Address: d.controlAddr(), LastSeen: time.Now().UTC(), Services: d.served()}}}, nil
	}
	nodes, err := d.fleet.Nodes(ctx)
	if err != nil {
		return control.Fleet{}, err
	}
	out := control.Fleet{Backend: "etcd", StoreUp: d.fleet.Up(), Self: d.node, Nodes: make([]control.FleetNode, 0, len(nodes))}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, control.FleetNode{Node: n.Node, Address: n.Address, LastSeen: n.LastSeen, Services: n.Services})
	}
	return out, nil
}
