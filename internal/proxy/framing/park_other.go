//go:build !linux

package framing

import (
	"net"
	"time"
)

// parker parks nothing where there is no epoll: connections stay with
// net/http while idle, as they always did.
type parker struct{ after time.Duration }

func newParker(time.Duration) *parker { return nil }

func (*parker) hold(*Conn) bool           { return false }
func (*parker) pop() net.Conn             { return nil }
func (*parker) close()                    {}
func (p *parker) wakeup() <-chan struct{} { return nil }
