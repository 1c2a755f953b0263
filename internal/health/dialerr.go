package health

import (
	"errors"
	"net"
)

// DialFailed reports whether err means no connection was made to the target
// (refused, or timed out while dialling), so no byte of a request reached it.
// Probes word such failures as connect errors, and the proxy may send such a
// request to another upstream: both ask this one question.
func DialFailed(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}
