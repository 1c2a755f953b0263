#!/usr/bin/env bash
# bench/idle.sh - what an idle keep-alive connection costs switchd: RSS with N
# connections open and idle (one request each, then nothing) minus RSS before
# them, divided by N. Each connection is read whole by a fresh bufio.Reader,
# so the proxy side is left in its idle state.
#
#   bench/idle.sh                 # N=10000
#   N=2000 GOGC=200 bench/idle.sh # env passes through to switchd
#   TLS=1 bench/idle.sh           # the connections speak TLS 1.3 (HTTP/1.1) to https_listen
#
# Knobs: N=10000, TLS=, WORK=/tmp/switchd-bench, SHARED_BENCH (for the backend),
# PROXY_PORT=18090 CONTROL_PORT=19180 BACKEND_PORT=18080 HTTPS_PORT=18443.
# Loopback only; every process started here is stopped by its PID.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$HERE/../../shared/bench}
WORK=${WORK:-/tmp/switchd-bench}
BIN=${BIN:-$WORK/bin}
N=${N:-10000}
GO=$(command -v go || echo /usr/local/go/bin/go)
export GOTOOLCHAIN=go1.27.3
PROXY_PORT=${PROXY_PORT:-18090} CONTROL_PORT=${CONTROL_PORT:-19180}
BACKEND_ADDR=127.0.0.1:${BACKEND_PORT:-18080}
ulimit -n $((N + 4096))

STARTED=() STATE_DIR=
cleanup() {
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

mkdir -p "$WORK"
[ -x "$BIN/bench-backend" ] || BIN=$BIN "$SHARED_BENCH/build.sh" >&2
(cd "$REPO" && CGO_ENABLED=0 "$GO" build -o "$WORK/switchd" ./cmd/switchd && "$GO" build -o "$WORK/idleconns" ./bench/idleconns)
STATE_DIR=$(mktemp -d "$WORK/state.XXXXXX")
CONF=$WORK/idle.toml
sed -e "s|@PROXY_PORT@|$PROXY_PORT|" -e "s|@CONTROL_PORT@|$CONTROL_PORT|" -e "s|@STATE_DIR@|$STATE_DIR|" \
	-e "s|@BACKEND_ADDR@|$BACKEND_ADDR|" -e "s|@UPSTREAM_MAX_IDLE@|1024|" "$HERE/perf.toml.in" >"$CONF"
TARGET=127.0.0.1:$PROXY_PORT TLSARGS=()
if [ -n "${TLS:-}" ]; then
	HTTPS_PORT=${HTTPS_PORT:-18443}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$STATE_DIR/key.pem" \
		-out "$STATE_DIR/cert.pem" -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost" 2>/dev/null
	sed -i "s|^http_listen = .*|&\nhttps_listen = \"127.0.0.1:$HTTPS_PORT\"|" "$CONF"
	printf '\n[tls]\nmode = "files"\ncert_file = "%s"\nkey_file = "%s"\nredirect_http = false\n' \
		"$STATE_DIR/cert.pem" "$STATE_DIR/key.pem" >>"$CONF"
	TARGET=127.0.0.1:$HTTPS_PORT TLSARGS=(-tls-ca "$STATE_DIR/cert.pem")
fi
"$BIN/bench-backend" -addr "$BACKEND_ADDR" >/dev/null 2>&1 &
STARTED+=($!)
"$WORK/switchd" -config "$CONF" >"$WORK/idle-switchd.log" 2>&1 &
SW=$!; STARTED+=("$SW")
for i in $(seq 100); do [ "$(curl -s -m 1 "http://127.0.0.1:$PROXY_PORT/")" = "hello, blue" ] && break; sleep 0.1; done
rss() { awk '/^VmRSS/{print $2}' "/proc/$SW/status"; }
sleep 1
before=$(rss)
FIFO=$WORK/idle.out; rm -f "$FIFO"
"$WORK/idleconns" -addr "$TARGET" "${TLSARGS[@]}" -n "$N" -hold 120s >"$FIFO" &
IC=$!; STARTED+=("$IC")
for i in $(seq 600); do grep -q '^ready' "$FIFO" 2>/dev/null && break; kill -0 "$IC" || exit 1; sleep 0.2; done
# Let two GC cycles pass (forced by the 2-minute GC at the latest, here by
# time): the first request's garbage is gone and stacks have shrunk.
sleep 5
after=$(rss)
gc=${GOGC:+GOGC=$GOGC}
echo "switchd idle keep-alive${TLS:+ (TLS)}: N=$N rss_before=${before}kB rss_after=${after}kB -> $(awk -v a="$after" -v b="$before" -v n="$N" 'BEGIN{printf "%.1f", (a-b)/n}') KiB/conn (${gc:-GC paced})"
