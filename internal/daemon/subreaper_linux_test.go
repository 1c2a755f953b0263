package daemon

import (
	"fmt"
	"syscall"
)

// becomeSubreaper makes the test process adopt the successors that an
// upgrade starts once the process that started them exits, so that tests
// can wait for them (PR_SET_CHILD_SUBREAPER, prctl(2)).
func becomeSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}
