package switchboard

import "errors"

// Sentinel errors; a refusal wraps one of them in a *Refusal with the
// operator-facing message.
var (
	ErrUnknownService  = errors.New("unknown service")
	ErrConflict        = errors.New("state changed meanwhile")
	ErrTargetUnhealthy = errors.New("target colour is unhealthy")
	ErrTargetEmpty     = errors.New("target colour has no upstreams")
	ErrNoPrevious      = errors.New("no previous colour")
	ErrPersist         = errors.New("state could not be saved")
	ErrBadColor        = errors.New("not a colour")
	// ErrBadPool is a pool change that config.toml would refuse too: a
	// bad address, one listed twice, one already in the other colour.
	ErrBadPool = errors.New("bad pool")
	// ErrUnavailable refuses a change because the shared store cannot be
	// reached; nothing changed.
	ErrUnavailable = errors.New("state store unavailable")
)

// Errors a Swapper fails with; the board turns them into refusals.
var (
	// ErrStoreConflict: the stored record is not the one the change was
	// made on (another host changed it first).
	ErrStoreConflict = errors.New("stored record changed meanwhile")
	// ErrStoreUnavailable: the store could not be reached.
	ErrStoreUnavailable = errors.New("state store unavailable")
)

// Refusal is an error with a message for the operator; errors.Is matches
// its Kind.
type Refusal struct {
	Kind error
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

// Unwrap returns Kind.
func (r *Refusal) Unwrap() error { return r.Kind }

func refuse(kind error, msg string) error { return &Refusal{Kind: kind, Msg: msg} }
