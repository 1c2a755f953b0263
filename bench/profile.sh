#!/usr/bin/env bash
# bench/profile.sh - the in-process Go benchmarks (side by side, one run) and the profiles.
#
#   bench/profile.sh            # all three parts
#   bench/profile.sh gobench    # only: go benchmarks, COUNT runs each, medians and ratios
#   bench/profile.sh gotest     # only: -cpuprofile / -memprofile of the go benchmarks
#   bench/profile.sh wrk        # only: the real daemon (bench/pprofd) under wrk -c64, pprof over HTTP
#
# Knobs (env): COUNT=5 BENCHTIME=1s (gobench), PROFTIME=5s (gotest), WRK_CONNS=64 WRK_DUR=15
# PROF_SECS=10 MEMPROFILERATE=0 (wrk; a low rate such as 4096 costs ~8% CPU in stack
# unwinding), WORK=/tmp/switchd-bench, RESULTS=<repo>/bench/results, SHARED_BENCH.
# Writes RESULTS/gobench-STAMP.txt, RESULTS/*-STAMP.prof and RESULTS/pprof-STAMP.txt.
# Loopback only; every process started here is stopped by its PID.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$HERE/../../shared/bench}
WORK=${WORK:-/tmp/switchd-bench}
BIN=${BIN:-$WORK/bin}
RESULTS=${RESULTS:-$HERE/results}
STAMP=${STAMP:-$(date +%Y%m%d-%H%M%S)}
GO=$(command -v go || echo /usr/local/go/bin/go)
# Every build here (switchd, the harness's backend and gostd) uses the same toolchain,
# the one the published numbers are for.
export GOTOOLCHAIN=go1.27.3
COUNT=${COUNT:-5} BENCHTIME=${BENCHTIME:-1s} PROFTIME=${PROFTIME:-5s}
WRK_CONNS=${WRK_CONNS:-64} WRK_DUR=${WRK_DUR:-15} PROF_SECS=${PROF_SECS:-10}
PROXY_PORT=${PROXY_PORT:-18090} CONTROL_PORT=${CONTROL_PORT:-19180} PPROF_PORT=${PPROF_PORT:-19181}
BACKEND_ADDR=127.0.0.1:${BACKEND_PORT:-18080}
PARTS=("$@"); [ ${#PARTS[@]} -gt 0 ] || PARTS=(gobench gotest wrk)
mkdir -p "$RESULTS" "$WORK"
REPORT=$RESULTS/pprof-$STAMP.txt

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
has() { local p; for p in "${PARTS[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

STARTED=() STATE_DIR=
cleanup() { # stop what this script started, by PID; remove the state dir
	local p
	for p in "${STARTED[@]:-}"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -z "$STATE_DIR" ] || rm -rf "$STATE_DIR"
	return 0
}
trap cleanup EXIT

(cd "$REPO" && "$GO" test -c -o "$WORK/bench.test" ./bench/)
TEST=$WORK/bench.test

# gobench_summary FILE: medians and ratios of a `go test -bench` output file.
gobench_summary() {
	local OUT=$1
	{
		echo
		echo "medians over the runs in the file; vs gostd = cpu-ns/op of switchd / of gostd in the same kind of benchmark;"
		echo "proxy cpu = cpu-ns/op - DirectHTTP's (client + backend taken out; sequential HTTP benchmarks only);"
		echo "writes/op = the proxy's write calls on its client connection per response"
		awk '
		function median(list,   a, n, i, j, x) {
			n = split(list, a, ",")
			for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function add(k, v) { if (k in L) L[k] = L[k] "," v; else L[k] = v }
		/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
			if (!(name in seen)) { seen[name] = 1; order[++n] = name }
			for (i = 3; i < NF; i += 2) add(name SUBSEP $(i + 1), $i)
		}
		function m(name, unit) { return ((name SUBSEP unit) in L) ? median(L[name SUBSEP unit]) : -1 }
		END {
			d = m("DirectHTTP", "cpu-ns/op")
			printf "%-22s %10s %10s %10s %9s %10s %10s %9s\n", "benchmark", "ns/op", "cpu-ns/op", "proxy cpu", "B/op", "allocs/op", "writes/op", "vs gostd"
			for (i = 1; i <= n; i++) {
				b = order[i]; other = b; sub(/SwitchdDaemon|Switchd/, "GoStd", other)
				r = (b != other && m(other, "cpu-ns/op") > 0) ? sprintf("%.2fx", m(b, "cpu-ns/op") / m(other, "cpu-ns/op")) : "-"
				pc = (b ~ /HTTP$/ && b !~ /ServeHTTP$/ && b != "DirectHTTP" && d > 0) ? sprintf("%.0f", m(b, "cpu-ns/op") - d) : "-"
				wr = m(b, "writes/op") >= 0 ? sprintf("%.2f", m(b, "writes/op")) : "-"
				printf "%-22s %10.0f %10.0f %10s %9.0f %10.0f %10s %9s\n", b, m(b, "ns/op"), m(b, "cpu-ns/op"), pc, m(b, "B/op"), m(b, "allocs/op"), wr, r
			}
			gs = m("GoStdHTTP", "cpu-ns/op") - d; sw = m("SwitchdHTTP", "cpu-ns/op") - d; dm = m("SwitchdDaemonHTTP", "cpu-ns/op") - d
			if (d > 0 && gs > 0) printf "\nproxy-only CPU (minus Direct): switchd handler %.2fx gostd, whole daemon %.2fx gostd\n", sw / gs, dm / gs
		}' "$OUT"
	}
}

# ------------------------------------------------------------- go benchmarks
if has gobench; then
	OUT=$RESULTS/gobench-$STAMP.txt
	log "go benchmarks: -count $COUNT -benchtime $BENCHTIME -> $OUT"
	: >"$OUT"
	for i in $(seq "$COUNT"); do # interleaved (-count 1, COUNT passes): drift hits every benchmark alike
		(cd "$HERE" && "$TEST" -test.run '^$' -test.bench . -test.benchmem -test.count 1 -test.benchtime "$BENCHTIME") >>"$OUT"
	done
	gobench_summary "$OUT" | tee -a "$OUT"
fi

# ------------------------------------------------------ go test profiles
top() { # title prof args...
	local title=$1 prof=$2; shift 2
	{ echo; echo "=== $title"; "$GO" tool pprof "$@" "$prof" 2>/dev/null; } >>"$REPORT"
}
breakdown() { # title prof binary
	{ echo; echo "=== $1 (cpu-breakdown.awk)"; "$GO" tool pprof -traces "$3" "$2" 2>/dev/null | awk -f "$HERE/cpu-breakdown.awk"; } >>"$REPORT"
}
if has gotest; then
	log "go test profiles ($PROFTIME each) -> $REPORT"
	cd "$HERE"
	for b in SwitchdHTTP SwitchdDaemonHTTP; do
		"$TEST" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime "$PROFTIME" \
			-test.cpuprofile "$RESULTS/cpu-$b-$STAMP.prof" >/dev/null
		top "CPU $b (go test -cpuprofile; client + proxy + canned backend in one process), top 25 by cum" \
			"$RESULTS/cpu-$b-$STAMP.prof" -top -cum -nodecount=25 "$TEST"
		top "CPU $b, only the proxy's server goroutine (focus net/http.(*conn).serve), top 25 by cum" \
			"$RESULTS/cpu-$b-$STAMP.prof" -top -cum -nodecount=25 -focus 'net/http\.\(\*conn\)\.serve' "$TEST"
		top "CPU $b, top 25 flat" "$RESULTS/cpu-$b-$STAMP.prof" -top -nodecount=25 "$TEST"
		breakdown "CPU $b by category" "$RESULTS/cpu-$b-$STAMP.prof" "$TEST"
	done
	# Every allocation sampled (memprofilerate 1): exact sites. ServeHTTP has no client
	# and no server, so its allocations are the proxy's own (+ its http.Transport).
	for b in SwitchdServeHTTP GoStdServeHTTP SwitchdHTTP; do
		"$TEST" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime 20000x -test.benchmem \
			-test.memprofile "$RESULTS/mem-$b-$STAMP.prof" -test.memprofilerate 1 >/dev/null
		top "allocations $b: alloc_space, top 20 flat" "$RESULTS/mem-$b-$STAMP.prof" -sample_index=alloc_space -top -nodecount=20 "$TEST"
		top "allocations $b: alloc_objects, top 20 flat" "$RESULTS/mem-$b-$STAMP.prof" -sample_index=alloc_objects -top -nodecount=20 "$TEST"
	done
	top "allocations SwitchdHTTP, only the proxy's server goroutine: alloc_space top 20" \
		"$RESULTS/mem-SwitchdHTTP-$STAMP.prof" -sample_index=alloc_space -top -nodecount=20 -focus 'net/http\.\(\*conn\)\.serve' "$TEST"
	cd - >/dev/null
fi

# -------------------------------------- the real daemon under wrk, pprof over HTTP
if has wrk; then
	command -v wrk >/dev/null || { log "wrk not installed (apt-get install -y wrk)"; exit 1; }
	[ -x "$BIN/bench-backend" ] || BIN=$BIN "$SHARED_BENCH/build.sh" >&2
	(cd "$REPO" && "$GO" build -o "$WORK/pprofd" ./bench/pprofd)
	for port in "${BACKEND_ADDR##*:}" "$PROXY_PORT" "$CONTROL_PORT" "$PPROF_PORT"; do
		[ -z "$(ss -Htln "sport = :$port")" ] || { log "port $port in use"; exit 1; }
	done
	STATE_DIR=$(mktemp -d "$WORK/state.XXXXXX")
	CONF=$WORK/pprof.toml
	sed -e "s|@PROXY_PORT@|$PROXY_PORT|" -e "s|@CONTROL_PORT@|$CONTROL_PORT|" -e "s|@STATE_DIR@|$STATE_DIR|" \
		-e "s|@BACKEND_ADDR@|$BACKEND_ADDR|" -e "s|@UPSTREAM_MAX_IDLE@|1024|" "$HERE/perf.toml.in" >"$CONF"
	"$BIN/bench-backend" -addr "$BACKEND_ADDR" >"$WORK/pprof-backend.log" 2>&1 &
	STARTED+=($!)
	"$WORK/pprofd" -pprof "127.0.0.1:$PPROF_PORT" -memprofilerate "${MEMPROFILERATE:-0}" -- -config "$CONF" >"$WORK/pprofd.log" 2>&1 &
	PD=$!; STARTED+=("$PD")
	for i in $(seq 100); do [ "$(curl -s -m 1 "http://127.0.0.1:$PROXY_PORT/")" = "hello, blue" ] && break; sleep 0.1; done
	log "wrk -c$WRK_CONNS -d${WRK_DUR}s against pprofd; profiles over the middle ${PROF_SECS}s"
	wrk -t1 -c"$WRK_CONNS" -d"${WRK_DUR}s" "http://127.0.0.1:$PROXY_PORT/" >"$RESULTS/wrk-pprofd-$STAMP.txt" 2>&1 &
	WRK=$!; STARTED+=("$WRK")
	sleep 2
	c0=$(awk '{print $14+$15}' "/proc/$PD/stat")
	curl -s -o "$RESULTS/allocs-daemon-wrk-$STAMP.prof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/allocs?seconds=$PROF_SECS" &
	A=$!
	curl -s -o "$RESULTS/cpu-daemon-wrk-$STAMP.prof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$PROF_SECS"
	wait "$A"
	wait "$WRK"
	c1=$(awk '{print $14+$15}' "/proc/$PD/stat")
	reqs=$(awk '/ requests in /{print $1}' "$RESULTS/wrk-pprofd-$STAMP.txt")
	cleanup; STARTED=() STATE_DIR=
	{
		echo
		echo "=== the real daemon (bench/pprofd = daemon.Main + pprof) under wrk -t1 -c$WRK_CONNS -d${WRK_DUR}s, memprofilerate ${MEMPROFILERATE:-0} (0 = Go default, 512 KiB)"
		grep -E 'Requests/sec|requests in' "$RESULTS/wrk-pprofd-$STAMP.txt"
		echo "daemon CPU over the whole wrk run: $(awk -v t=$((c1 - c0)) -v r="${reqs:-0}" 'BEGIN{ if (r > 0) printf "%.1f us/req (profiling on)", t * 10000 / r; else print "?" }')"
	} >>"$REPORT"
	top "CPU daemon under wrk, top 30 by cum" "$RESULTS/cpu-daemon-wrk-$STAMP.prof" -top -cum -nodecount=30 "$WORK/pprofd"
	top "CPU daemon under wrk, top 30 flat" "$RESULTS/cpu-daemon-wrk-$STAMP.prof" -top -nodecount=30 "$WORK/pprofd"
	breakdown "CPU daemon under wrk by category" "$RESULTS/cpu-daemon-wrk-$STAMP.prof" "$WORK/pprofd"
	top "allocations daemon under wrk (delta over ${PROF_SECS}s): alloc_space top 20" \
		"$RESULTS/allocs-daemon-wrk-$STAMP.prof" -sample_index=alloc_space -top -nodecount=20 "$WORK/pprofd"
	top "allocations daemon under wrk (delta over ${PROF_SECS}s): alloc_objects top 20" \
		"$RESULTS/allocs-daemon-wrk-$STAMP.prof" -sample_index=alloc_objects -top -nodecount=20 "$WORK/pprofd"
fi
log "wrote $REPORT"
