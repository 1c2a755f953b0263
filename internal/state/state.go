package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Version is the state.json format this package reads and writes.
const Version = 1

// MaxGeneration is the largest generation a state file may hold: 2^53, the
// largest integer every JSON client (JavaScript, jq) reads exactly. Above it
// a client's expect_generation could round to a neighbour, and at 2^64-1 the
// next flip would wrap to 0 and reopen generations already handed out (an
// expect_generation taken long ago would match again: the ABA problem).
const MaxGeneration = 1 << 53

// Record is the persisted state of one service. The zero Record is not valid:
// Active must be Blue or Green and Reason must be set.
type Record struct {
	// Active is the colour that serves traffic. Never NoColor.
	Active config.Color `json:"active"`
	// Previous is the colour that served before the last flip; NoColor
	// (omitted from the file) when there has been no flip yet. Never
	// equal to Active.
	Previous config.Color `json:"previous,omitempty"`
	// Generation counts changes; zero means no change has been recorded.
	// At most MaxGeneration.
	Generation uint64 `json:"generation"`
	// ChangedAt is when Active was last set; the zero time means unknown.
	ChangedAt time.Time `json:"changed_at"`
	// ChangedBy names who set it (operator, "guard", ...); "" means unknown.
	ChangedBy string `json:"changed_by"`
	// Reason is why (switchboard.Reason: manual | rollback | guard |
	// failover | initial). Must not be empty; any other word is kept, so
	// that an older switchd still starts on a newer one's file.
	Reason string `json:"reason"`
	// Detail is free text the operator gave ("deploy 4f2a"); "" means none.
	Detail string `json:"detail,omitempty"`
	// Forced is true when the flip skipped the health gate; false means it
	// passed the gate (or there was none to pass).
	Forced bool `json:"forced,omitempty"`
	// Pools holds the runtime-owned pools, by colour name ("blue",
	// "green"): upstreams set through the control API, which win over
	// config.toml's for that colour until handed back. nil or a missing
	// colour: the colour's pool comes from config.toml. An empty list is
	// a runtime-owned empty pool. Files without it (older switchd) read
	// as nil.
	Pools map[string][]string `json:"pools,omitempty"`
	// PoolsVersion counts changes of the runtime-owned pools, so that two
	// deploys racing for the idle pool can tell (expect_pools_version);
	// zero means none yet.
	PoolsVersion uint64 `json:"pools_version,omitempty"`
}

// File is the whole state.json.
//
// Unknown fields in the file are tolerated on read, so that an older switchd
// can start on a file written by a newer one (rolling switchd itself back
// must not be blocked by its own state file). They are dropped on the next
// Save, which is acceptable because only switchd writes this file.
type File struct {
	// Version is the format version; 0 means Version (1). Other values are
	// rejected.
	Version int `json:"version"`
	// Services maps a service name to its record. nil means no services.
	Services map[string]Record `json:"services"`
}

// recordJSON is Record as it appears on disk, with the colours and the time
// left raw so that a bad value can be reported with the service and field
// it belongs to; encoding/json alone would report neither.
type recordJSON struct {
	Active       string              `json:"active"`
	Previous     string              `json:"previous"`
	Generation   uint64              `json:"generation"`
	ChangedAt    json.RawMessage     `json:"changed_at"`
	ChangedBy    string              `json:"changed_by"`
	Reason       string              `json:"reason"`
	Detail       string              `json:"detail"`
	Forced       bool                `json:"forced"`
	Pools        map[string][]string `json:"pools"`
	PoolsVersion uint64              `json:"pools_version"`
}

// Decode parses and validates the contents of a state.json. An accepted File
// always has Version 1 and a non-nil Services map. Errors name the problem
// but not the file; Open adds the path.
func Decode(data []byte) (File, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		// A state file is never written empty (Save writes a whole file
		// or nothing), so an empty one is damage, not "no state".
		return File{}, errors.New("file is empty")
	case string(trimmed) == "null":
		// encoding/json would accept null as "nothing to do" and
		// hand back an empty state.
		return File{}, errors.New("top level is null, want an object")
	}

	// Services are decoded one by one so that errors carry the service
	// name; encoding/json's own field paths leave map keys out.
	var top struct {
		Version  int                        `json:"version"`
		Services map[string]json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return File{}, jsonError(err)
	}
	switch top.Version {
	case 0, Version:
	default:
		return File{}, fmt.Errorf("unsupported version %d: this switchd reads version %d", top.Version, Version)
	}

	f := File{Version: Version, Services: make(map[string]Record, len(top.Services))}
	// Sorted so that a file with several problems always reports the same one.
	for _, name := range slices.Sorted(maps.Keys(top.Services)) {
		r, err := decodeRecord(top.Services[name])
		if err == nil {
			err = checkName(name)
		}
		if err == nil {
			err = r.check()
		}
		if err != nil {
			return File{}, fmt.Errorf("service %q: %w", name, err)
		}
		f.Services[name] = r
	}
	return f, nil
}

func decodeRecord(raw json.RawMessage) (Record, error) {
	var rj recordJSON
	if err := json.Unmarshal(raw, &rj); err != nil {
		return Record{}, jsonError(err)
	}
	r := Record{
		Generation:   rj.Generation,
		ChangedBy:    rj.ChangedBy,
		Reason:       rj.Reason,
		Detail:       rj.Detail,
		Forced:       rj.Forced,
		Pools:        rj.Pools,
		PoolsVersion: rj.PoolsVersion,
	}
	var err error
	if rj.Active == "" {
		return Record{}, errors.New("no active colour")
	}
	if r.Active, err = config.ParseColor(rj.Active); err != nil {
		return Record{}, fmt.Errorf("bad active colour %q", rj.Active)
	}
	if rj.Previous != "" {
		if r.Previous, err = config.ParseColor(rj.Previous); err != nil {
			return Record{}, fmt.Errorf("bad previous colour %q", rj.Previous)
		}
	}
	if len(rj.ChangedAt) > 0 {
		if err := r.ChangedAt.UnmarshalJSON(rj.ChangedAt); err != nil {
			return Record{}, fmt.Errorf("field \"changed_at\": %w", err)
		}
	}
	return r, nil
}

// Encode validates f and returns the bytes Save writes: indented JSON (the
// file is meant to be read by operators) with a trailing newline. It refuses
// anything Decode would refuse, so that switchd never writes a state file it
// could not start from.
func Encode(f File) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	f.Version = Version
	if f.Services == nil {
		// "services": {} rather than null, for people reading the file.
		f.Services = map[string]Record{}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return append(data, '\n'), nil
}

func (f File) check() error {
	if f.Version != 0 && f.Version != Version {
		return fmt.Errorf("unsupported version %d: this switchd writes version %d", f.Version, Version)
	}
	for _, name := range slices.Sorted(maps.Keys(f.Services)) {
		err := checkName(name)
		if err == nil {
			err = f.Services[name].check()
		}
		if err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty service name")
	}
	return nil
}

func (r Record) check() error {
	switch {
	case r.Active == config.NoColor:
		return errors.New("no active colour")
	case !r.Active.Valid():
		return fmt.Errorf("bad active colour %q", colorName(r.Active))
	case r.Previous != config.NoColor && !r.Previous.Valid():
		return fmt.Errorf("bad previous colour %q", colorName(r.Previous))
	case r.Previous == r.Active:
		return fmt.Errorf("previous colour %q is the same as active", r.Previous)
	case r.Reason == "":
		return errors.New("empty reason")
	case r.Generation > MaxGeneration:
		return fmt.Errorf("generation %d is above 2^53 (%d), the largest that JSON clients read exactly", r.Generation, uint64(MaxGeneration))
	case r.ChangedAt.Year() < 0 || r.ChangedAt.Year() > 9999:
		// JSON (RFC 3339) has four-digit years; say so before encoding/json does.
		return fmt.Errorf("changed_at year %d is outside 0-9999", r.ChangedAt.Year())
	case r.PoolsVersion > MaxGeneration:
		return fmt.Errorf("pools_version %d is above 2^53 (%d)", r.PoolsVersion, uint64(MaxGeneration))
	}
	return r.checkPools()
}

// checkPools refuses runtime pools that config.toml would refuse: a key
// that is no colour, a bad address, an address in two places.
func (r Record) checkPools() error {
	seen := map[string]string{}
	for _, c := range slices.Sorted(maps.Keys(r.Pools)) {
		if _, err := config.ParseColor(c); err != nil {
			return fmt.Errorf("pools: %q is not a colour", c)
		}
		for _, u := range r.Pools[c] {
			canon, err := config.CanonicalUpstream(u)
			if err != nil {
				return fmt.Errorf("pools.%s: %w", c, err)
			}
			if canon != u {
				return fmt.Errorf("pools.%s: upstream %q is not written as %q", c, u, canon)
			}
			if other, dup := seen[u]; dup {
				return fmt.Errorf("pools.%s: duplicate upstream %q (also in %s)", c, u, other)
			}
			seen[u] = c
		}
	}
	return nil
}

// colorName names out-of-range colours too, which String leaves empty.
func colorName(c config.Color) string {
	if s := c.String(); s != "" || c == config.NoColor {
		return s
	}
	return fmt.Sprintf("Color(%d)", uint8(c))
}

// jsonError rewords encoding/json's errors for an operator: where the file
// breaks, and which field has the wrong type in file terms rather than Go's.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d: %w", se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("got %s, want %s", te.Value, jsonKind(te.Type))
		}
		return fmt.Errorf("field %q: got %s, want %s", te.Field, te.Value, jsonKind(te.Type))
	}
	return err
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}
