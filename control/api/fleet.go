package api

import "time"

// Fleet answers GET /v1/fleet: the switchd hosts that share this one's
// state, this one included.
type Fleet struct {
	// Backend is the state backend: "file" (this host alone) or "etcd".
	Backend string `json:"backend"`
	// StoreUp is false while the shared store cannot be reached; always
	// true with "file".
	StoreUp bool `json:"store_up"`
	// Self is this host's name in Nodes.
	Self string `json:"self"`
	// Nodes are the live hosts, by name.
	Nodes []FleetNode `json:"nodes"`
}

// FleetNode is one host of the fleet.
type FleetNode struct {
	// Node is the host's name ([state.etcd] node, else its hostname).
	Node string `json:"node"`
	// Address is its control API address; "" when unknown.
	Address string `json:"address"`
	// LastSeen is when the host last wrote its entry (about every second).
	LastSeen time.Time `json:"last_seen"`
	// Services maps each service the host routes to the generation it
	// serves.
	Services map[string]uint64 `json:"services"`
}
