#!/usr/bin/env bash
# bench/tls.sh - switchd against nginx over TLS, one ECDSA P-256 certificate for both:
# new full handshakes and HTTP/2 requests (h2load -c64 -m10), each with the proxy's CPU
# per handshake or request. Handshakes two ways: one openssl s_time -new (no resumption;
# one client, which saturates neither proxy) and tlsflood (bench/tlsflood: FLOOD_C parallel
# full handshakes offering X25519 only, as openssl does, and h2+http/1.1).
# Both servers offer TLS 1.3 (nginx 1.22 does not by default); the first lines say what
# each negotiates.
#
#   bench/tls.sh        # ROUNDS=2 TIME=6 (seconds per handshake run) FLOOD_C=4 H2N=60000
#
# Needs openssl, nginx, h2load (Debian nghttp2-client). Ports 18080 (backend), 18443
# (switchd https), 18090/19180 (switchd http/control), 18444 (nginx). Loopback only;
# every process started here is stopped by its PID.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$HERE/../../shared/bench}
WORK=${WORK:-/tmp/switchd-bench}
BIN=${BIN:-$WORK/bin}
ROUNDS=${ROUNDS:-2} TIME=${TIME:-6} FLOOD_C=${FLOOD_C:-4} H2N=${H2N:-60000}
GO=$(command -v go || echo /usr/local/go/bin/go)
export GOTOOLCHAIN=go1.27.3
T=$WORK/tls; mkdir -p "$T"

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

[ -x "$BIN/bench-backend" ] || BIN=$BIN "$SHARED_BENCH/build.sh" >&2
(cd "$REPO" && CGO_ENABLED=0 "$GO" build -o "$WORK/switchd" ./cmd/switchd && "$GO" build -o "$WORK/tlsflood" ./bench/tlsflood)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
	-days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
STATE_DIR=$(mktemp -d "$WORK/state.XXXXXX")
sed -e "s|@PROXY_PORT@|18090|" -e "s|@CONTROL_PORT@|19180|" -e "s|@STATE_DIR@|$STATE_DIR|" \
	-e "s|@BACKEND_ADDR@|127.0.0.1:18080|" -e "s|@UPSTREAM_MAX_IDLE@|1024|" "$HERE/perf.toml.in" |
	sed 's|^http_listen = .*|&\nhttps_listen = "127.0.0.1:18443"|' >"$T/switchd.toml"
printf '\n[tls]\nmode = "files"\ncert_file = "%s"\nkey_file = "%s"\nredirect_http = false\n' "$T/cert.pem" "$T/key.pem" >>"$T/switchd.toml"
cat >"$T/nginx.conf" <<NGINX
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  upstream be { server 127.0.0.1:18080; keepalive 1024; }
  server {
    listen 127.0.0.1:18444 ssl http2;
    ssl_certificate $T/cert.pem;
    ssl_certificate_key $T/key.pem;
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX

# cpu PID: utime+stime (ticks) of PID and its children (nginx's workers).
cpu() { local t=0 p; for p in "$1" $(ps -o pid= --ppid "$1"); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
for port in 18080 18090 18443 18444 19180; do
	[ -z "$(ss -Htln "sport = :$port")" ] || { echo "tls.sh: port $port in use" >&2; exit 1; }
done
"$BIN/bench-backend" -addr 127.0.0.1:18080 >/dev/null 2>&1 &
STARTED+=($!)
"$WORK/switchd" -config "$T/switchd.toml" >"$T/switchd.log" 2>&1 &
SW=$!; STARTED+=("$SW")
nginx -c "$T/nginx.conf" -p "$T" >/dev/null 2>&1 &
NG=$!; STARTED+=("$NG")
for port in 18443 18444; do
	for i in $(seq 100); do curl -sk -m 1 "https://127.0.0.1:$port/" | grep -q blue && break; sleep 0.1; done
done
for t in "switchd 18443" "nginx 18444"; do
	read -r name port <<<"$t"
	echo "$name negotiates: $(openssl s_client -connect "127.0.0.1:$port" -brief </dev/null 2>&1 |
		awk -F': ' '/^(Protocol version|Ciphersuite|Server Temp Key)/{printf "%s%s", s, $2; s=", "}')"
done
for round in $(seq "$ROUNDS"); do
	for t in "switchd 18443 $SW" "nginx 18444 $NG"; do
		read -r name port pid <<<"$t"
		c0=$(cpu "$pid")
		n=$(openssl s_time -connect "127.0.0.1:$port" -new -time "$TIME" 2>/dev/null | awk '/connections in/{print $1; exit}')
		c1=$(cpu "$pid")
		echo "round $round $name handshakes: $n in ${TIME}s = $((n / TIME))/s, proxy CPU $(awk -v t=$((c1 - c0)) -v n="$n" 'BEGIN{printf "%.0f", t*10000/n}') us/handshake"
		echo "round $round $name tlsflood: $("$WORK/tlsflood" -addr "127.0.0.1:$port" -c "$FLOOD_C" -d "${TIME}s" -pids "$pid")"
		c0=$(cpu "$pid")
		out=$(h2load -n "$H2N" -c 64 -m 10 "https://127.0.0.1:$port/" 2>&1)
		c1=$(cpu "$pid")
		ok=$(awk '/^requests:/{print $8}' <<<"$out")
		echo "round $round $name h2: $(awk '/^finished in/{print $4, $5}' <<<"$out") ($ok of $H2N succeeded), proxy CPU $(awk -v t=$((c1 - c0)) -v n="$ok" 'BEGIN{printf "%.1f", t*10000/n}') us/req"
	done
done
