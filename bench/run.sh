#!/usr/bin/env bash
# bench/run.sh - switchd vs direct, nginx, HAProxy and a bare Go proxy (gostd) in ONE run
# of the shared harness (../shared/bench, beside this repository), then a short summary.
#
#   bench/run.sh                      # everything, CONNS="64 1000", DUR=10
#   CONNS=64 DUR=5 bench/run.sh       # quicker
#   TARGETS="direct gostd" bench/run.sh   # other targets; "custom" (switchd) is always added
#   ACCESS_LOG=1 bench/run.sh       # switchd with its access log on ([log] level info)
#   SWITCHD_ENV="GOGC=75" bench/run.sh  # switchd (only) started with these variables set
#
# Knobs (env): SHARED_BENCH (default: <repo>/../shared/bench), WORK=/tmp/switchd-bench
# (binaries, perf config, state, RUNDIR), RESULTS=<repo>/bench/results (git-ignored),
# UPSTREAM_MAX_IDLE (default = the harness's POOL, 1024), plus every knob of the shared
# run.sh (ROUNDS DUR WARM CONNS THREADS WORKERS POOL QUIET_PCT QUIET_MAX ...).
# QUIET_MAX defaults to 120 here: other jobs share the box.
#
# Writes RESULTS/raw-STAMP.tsv (+ .versions.txt, .log) from the harness, RESULTS/summary-STAMP.md
# (summarize.sh) and RESULTS/summary-STAMP.txt (switchd's ratios). Loopback only.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$HERE/../../shared/bench}
[ -x "$SHARED_BENCH/run.sh" ] || { echo "no harness at $SHARED_BENCH (set SHARED_BENCH)" >&2; exit 1; }
SHARED_BENCH=$(cd "$SHARED_BENCH" && pwd)
WORK=${WORK:-/tmp/switchd-bench}
BIN=${BIN:-$WORK/bin}
RESULTS=${RESULTS:-$HERE/results}
STAMP=${STAMP:-$(date +%Y%m%d-%H%M%S)}
GO=$(command -v go || echo /usr/local/go/bin/go)
# Every build here (switchd, the harness's backend and gostd) uses the same toolchain,
# the one the published numbers are for.
export GOTOOLCHAIN=go1.27.3
TARGETS=${TARGETS:-"direct nginx haproxy gostd"}
export POOL=${POOL:-1024} QUIET_MAX=${QUIET_MAX:-120} CONNS=${CONNS:-"64 1000"}
UPSTREAM_MAX_IDLE=${UPSTREAM_MAX_IDLE:-$POOL}
PROXY_PORT=${PROXY_PORT:-18090} CONTROL_PORT=${CONTROL_PORT:-19180}
BACKEND_ADDR=127.0.0.1:${BACKEND_PORT:-18080}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# summary RAW: RESULTS/summary-STAMP.md (summarize.sh) and RESULTS/summary-STAMP.txt
# (switchd's ratios) for one raw TSV of the harness.
summary() {
	local RAW=$1 STAMP OUT
	STAMP=$(basename "$RAW" .tsv); STAMP=${STAMP#raw-}
	OUT=$RESULTS/summary-$STAMP.txt
	"$SHARED_BENCH/summarize.sh" "$RAW" >"$RESULTS/summary-$STAMP.md"
	{
		echo "switchd bench $STAMP  ($(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'), raw: $(basename "$RAW"))"
		grep -E '^(date|wrk|nginx|haproxy|gostd|settings):' "${RAW%.tsv}.versions.txt" || true
		echo
		echo "proxy CPU us/req (utime+stime of the proxy / requests; lower is better), p99 ms,"
		echo "switchd/it = switchd CPU us/req / that target's at the same conns (medians over rounds):"
		awk -F'\t' '
		function median(list,   a, n, i, j, x) {
			n = split(list, a, ",")
			for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function add(k, v) { if (k in L) L[k] = L[k] "," v; else L[k] = v }
		$1 == "stamp" { next }
		{
			t = $3; c = $4 + 0
			if (!(t in seenT)) { seenT[t] = 1; order[++nt] = t }
			if (!(c in seenC)) { seenC[c] = 1; cs[++nc] = c }
			if ($13 != "-") add("cpu" SUBSEP t SUBSEP c, $13)
			add("p99" SUBSEP t SUBSEP c, $7); add("rps" SUBSEP t SUBSEP c, $5); E[t, c] += $8
			if ($11 != "-") { H[$2, t, c] = $11; R[$2, t] = 1 }
		}
		END {
			for (i = 1; i <= nc; i++) for (j = i + 1; j <= nc; j++) if (cs[j] < cs[i]) { x = cs[i]; cs[i] = cs[j]; cs[j] = x }
			lo = cs[1]; hi = cs[nc]
			for (k in R) { split(k, p, SUBSEP); if (((p[1], p[2], lo) in H) && ((p[1], p[2], hi) in H) && hi > lo) add("kpc" SUBSEP p[2], (H[p[1], p[2], hi] - H[p[1], p[2], lo]) / (hi - lo)) }
			printf "%-9s %6s %9s %9s %8s %7s %11s %9s\n", "target", "conns", "req/s", "CPU us/r", "p99 ms", "errors", "switchd/it", "KiB/conn"
			for (ci = 1; ci <= nc; ci++) {
				c = cs[ci]
				k = "cpu" SUBSEP "switchd" SUBSEP c
				sw = (k in L) ? median(L[k]) : 0
				for (ti = 1; ti <= nt; ti++) {
					t = order[ti]; g = t SUBSEP c
					if (!(("p99" SUBSEP g) in L)) continue
					cpu = (("cpu" SUBSEP g) in L) ? median(L["cpu" SUBSEP g]) : -1
					ratio = (t != "switchd" && cpu > 0 && sw > 0) ? sprintf("%.2fx", sw / cpu) : "-"
					kpc = (ci == nc && (("kpc" SUBSEP t) in L)) ? sprintf("%.1f", median(L["kpc" SUBSEP t])) : "-"
					printf "%-9s %6d %9.0f %9s %8.3f %7d %11s %9s\n", t, c, median(L["rps" SUBSEP g]),
						(cpu >= 0 ? sprintf("%.1f", cpu) : "-"), median(L["p99" SUBSEP g]), E[t, c], ratio, kpc
				}
			}
			printf "\nKiB/conn = peak-RSS growth from c%d to c%d / %d connections (includes Go GC slack).\n", lo, hi, hi - lo
		}' "$RAW"
		echo
		echo "noise % (CPU of other processes during each measured run; high = disturbed row):"
		awk -F'\t' '$1 != "stamp" { printf "  %s c%s: %s%%\n", $3, $4, $17 }' "$RAW"
	} >"$OUT"
	cat "$RESULTS/summary-$STAMP.md"
	echo
	cat "$OUT"
	log "wrote $OUT and $RESULTS/summary-$STAMP.md"
}

# bench/run.sh --summary RAW.tsv: only redo the summaries of an earlier run.
if [ "${1:-}" = --summary ]; then summary "$2"; exit; fi

# 1. Debian packages, only when missing.
missing=()
for p in nginx haproxy wrk curl; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# 2. Builds: the harness's backend and gostd (into $BIN, never into shared/), and switchd.
mkdir -p "$BIN" "$RESULTS" "$WORK"
BIN=$BIN "$SHARED_BENCH/build.sh" >&2
(cd "$REPO" && CGO_ENABLED=0 "$GO" build -o "$WORK/switchd" ./cmd/switchd)
log "built $WORK/switchd ($(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO" && git diff --quiet HEAD 2>/dev/null || echo '+dirty'))"

# 3. The perf config: one default service, blue = the harness backend, no access log.
STATE_DIR=$(mktemp -d "$WORK/state.XXXXXX")
trap 'rm -rf "$STATE_DIR"' EXIT
CONF=$WORK/perf.toml
sed -e "s|@PROXY_PORT@|$PROXY_PORT|" -e "s|@CONTROL_PORT@|$CONTROL_PORT|" -e "s|@STATE_DIR@|$STATE_DIR|" \
	-e "s|@BACKEND_ADDR@|$BACKEND_ADDR|" -e "s|@UPSTREAM_MAX_IDLE@|$UPSTREAM_MAX_IDLE|" "$HERE/perf.toml.in" >"$CONF"
if [ "${ACCESS_LOG:-0}" = 1 ]; then # the access log on, as switchd's default config has it
	sed -i -e 's|^level = "warn"|level = "info"|' -e 's|^access_log = false|access_log = true|' "$CONF"
	grep -q '^access_log = true' "$CONF" || { log "ACCESS_LOG=1: perf.toml.in's [log] changed"; exit 1; }
fi
"$WORK/switchd" validate -config "$CONF" >&2

# 4. One run of the harness: every target plus switchd as "custom".
RAW=$RESULTS/raw-$STAMP.tsv
log "harness: $SHARED_BENCH/run.sh $TARGETS custom (CONNS='$CONNS', results in $RESULTS)"
# shellcheck disable=SC2086
BIN=$BIN RESULTS=$RESULTS RUNDIR=${RUNDIR:-$WORK/run} RAW=$RAW \
	PROXY_NAME=switchd PROXY_CMD="${SWITCHD_ENV:+env $SWITCHD_ENV }$WORK/switchd -config $CONF" PROXY_URL="http://127.0.0.1:$PROXY_PORT/" \
	"$SHARED_BENCH/run.sh" $TARGETS custom 2>&1 | tee "$RESULTS/raw-$STAMP.log" >&2
[ -s "$RAW" ] && [ "$(wc -l <"$RAW")" -gt 1 ] || { log "no results in $RAW"; exit 1; }

# 5. summarize.sh, then switchd's ratios.
summary "$RAW"
