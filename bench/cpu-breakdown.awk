# cpu-breakdown.awk - `go tool pprof -traces BIN cpu.prof | awk -f cpu-breakdown.awk`:
# the share of CPU samples by category (first match wins: GC, stack growth, syscalls by
# goroutine, malloc, scheduler, switchd's own leaf functions, the rest by goroutine).
function ms(v) { if (v ~ /ms$/) return v + 0; if (v ~ /us$/) return (v + 0) / 1000; if (v ~ /s$/) return (v + 0) * 1000; return v + 0 }
function flush(   cat, side) {
	if (n == 0) return
	side = (all ~ /net\/http\.\(\*conn\)\.serve/) ? "client conn (server goroutine)" : (all ~ /maxLatencyWriter\)\.delayedFlush/) ? "ReverseProxy flush timer goroutine" : (all ~ /persistConn\)\.(readLoop|writeLoop)/) ? "upstream conn (transport goroutines)" : "runtime (netpoll, futex wake-ups, timers)"
	if (all ~ /gcBgMarkWorker|gcAssistAlloc|bgsweep|bgscavenge|sweepone|markroot|gcStart|gcMarkDone|deductSweepCredit|gcMarkTermination|scavenge/) cat = "GC: mark, assist, sweep"
	else if (all ~ /runtime\.newstack|runtime\.copystack|runtime\.morestack/) cat = "goroutine stack growth"
	else if (leaf ~ /Syscall|syscall|epollwait|futex|usleep|nanosleep/) cat = "syscalls, " side
	else if (all ~ /runtime\.mallocgc/) cat = "malloc (not GC)"
	else if (all ~ /runtime\.schedule|runtime\.findRunnable|runtime\.mcall|runtime\.park_m|runtime\.gopark|runtime\.ready|runtime\.wakep|selectgo|chansend|chanrecv/) cat = "scheduler, channels, select"
	else if (leaf ~ /^switchd\//) cat = "switchd's own functions (flat)"
	else cat = "net/http, httputil, other code: " side
	T[cat] += v; tot += v; n = 0; all = ""
}
/^-+\+-+/ { flush(); next }
/^ +[0-9.]+(ms|s|us) +/ { v = ms($1); leaf = $2; all = " " $2; n = 1; next }
n > 0 && /^ +[^ ]/ { all = all " " $1; next }
END {
	flush()
	for (c in T) printf "%6.1f%%  %s\n", T[c] * 100 / tot, c | "sort -rn"
}
