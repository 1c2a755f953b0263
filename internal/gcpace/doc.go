// Package gcpace lowers the Go collector's percent once the heap is large.
//
// Under GOGC=100 the runtime lets the heap grow by as much as it holds (its
// live heap, plus the goroutine stacks and globals it scans) before it
// collects again. For a proxy that headroom is paid per connection: at 1000
// busy connections 19 MiB scanned became 38 MiB and more of heap, about half
// of each connection's memory. A smaller headroom costs CPU: at the floor of
// 50 % the collector runs twice as often per byte allocated as under 100 %
// (measured: 10-20 % more CPU per request at 1000 busy connections, for a
// quarter less memory).
//
// The pacer keeps Go's 100 % while the scanned heap is under Knee (on a small
// heap a lower percent would only collect more often for a few MiB), holds
// the headroom at Knee from there to twice Knee, and never goes under
// MinPercent, which is where it stays on a heap larger than that:
//
//	scanned ≤ 8 MiB: 100 %   12 MiB: 66 %   ≥ 16 MiB: 50 %
//
// It sets the percent after a collection, from the last finished cycle's
// figures (runtime/metrics), with a cleanup the runtime runs once the sweep
// has found its sentinel unreachable: at most once a cycle, every few cycles
// under load, and no goroutine or timer of its own. An operator's GOGC wins:
// when the runtime uses the environment's (a number, or "off") the pacer does
// nothing.
//
// It imports nothing of switchd; daemon.Main starts it for the process.
package gcpace
