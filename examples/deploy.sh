#!/usr/bin/env bash
# deploy.sh IMAGE TAG: blue/green deploy of one container behind switchd.
#
#   1. start IMAGE:TAG as the idle colour's container (app-green when blue serves);
#   2. switchctl deploy: register it in the idle pool, wait until healthy, smoke-test it,
#      flip, and (WAIT_STABLE=1) wait out the guard's watch;
#   3. once the old colour is drained, stop its container.
#
# Any failed step stops the script with a message naming it and switchctl's exit code
# (1 failed, 3 refused: unhealthy or someone else deployed, 4 the guard reverted,
# 5 timed out); before the flip no traffic has moved. The tag that served before is kept
# in $TAGS_DIR/previous: roll back with `deploy.sh IMAGE "$(cat $TAGS_DIR/previous)"`.
#
# Environment (all optional):
#   SERVICE=app            switchd's service
#   DEPLOY_HOST=           where the containers run, over SSH; empty: this host
#   SSH=ssh                the ssh command (SSH="ssh -i key -o BatchMode=yes")
#   DOCKER=docker          the docker command on the deploy host
#   UPSTREAM_HOST=127.0.0.1  the address switchd reaches the containers at
#   PORT_BLUE=8081 PORT_GREEN=8082  host ports of the two colours' containers
#   APP_PORT=8080          the port the application listens on inside its container
#   SMOKE=/healthz         path smoke-tested on the new container; empty: no smoke test
#   WAIT_STABLE=1          wait out the guard's watch after the flip (0: do not)
#   TAGS_DIR=.deploy       where the current and previous tags are kept
#   SWITCHCTL=switchctl    the switchctl command; SWITCHD_ADDR, SWITCHD_TOKEN as usual
set -uo pipefail

image=${1:?usage: deploy.sh IMAGE TAG}
tag=${2:?usage: deploy.sh IMAGE TAG}
SERVICE=${SERVICE:-app}
DEPLOY_HOST=${DEPLOY_HOST:-}
SSH=${SSH:-ssh}
DOCKER=${DOCKER:-docker}
UPSTREAM_HOST=${UPSTREAM_HOST:-127.0.0.1}
PORT_BLUE=${PORT_BLUE:-8081}
PORT_GREEN=${PORT_GREEN:-8082}
APP_PORT=${APP_PORT:-8080}
SMOKE=${SMOKE-/healthz}
WAIT_STABLE=${WAIT_STABLE:-1}
TAGS_DIR=${TAGS_DIR:-.deploy}
SWITCHCTL=${SWITCHCTL:-switchctl}

fail() { # fail CODE STEP MESSAGE
	echo "deploy.sh: $2 failed: $3" >&2
	exit "$1"
}

# on_host runs docker on the deploy host: over SSH, or here.
on_host() {
	if [ -n "$DEPLOY_HOST" ]; then
		# ssh runs its arguments through the remote shell: quote each one.
		$SSH "$DEPLOY_HOST" "$(printf '%q ' "$@")"
	else
		"$@"
	fi
}

# 1. Which colour is idle: the new version goes there.
status=$($SWITCHCTL --json status "$SERVICE") || fail $? "status" "switchctl status $SERVICE exited $?"
idle=$(printf '%s\n' "$status" | sed -n 's/^  "idle": *"\([a-z]*\)".*/\1/p')
active=$(printf '%s\n' "$status" | sed -n 's/^  "active": *"\([a-z]*\)".*/\1/p')
case "$idle" in
blue) port=$PORT_BLUE ;;
green) port=$PORT_GREEN ;;
*) fail 1 "status" "switchd did not say which colour is idle (a switchd older than switchctl deploy?)" ;;
esac
new="$SERVICE-$idle" old="$SERVICE-$active"
echo "deploy.sh: $image:$tag goes to $idle ($new on port $port); $active serves"

# 2. Start the new container on the idle colour's port (an old one of that colour is
# idle, drained by the previous deploy: replace it).
on_host $DOCKER rm -f "$new" >/dev/null 2>&1 || true
on_host $DOCKER run -d --name "$new" --restart unless-stopped -p "$port:$APP_PORT" "$image:$tag" >/dev/null ||
	fail 1 "start" "$DOCKER run $image:$tag as $new"

# 3. Register, check, smoke-test, flip, watch.
args=(deploy "$SERVICE" --upstream "$UPSTREAM_HOST:$port" --reason "deploy $tag")
[ -n "$SMOKE" ] && args+=(--smoke "$SMOKE")
[ "$WAIT_STABLE" = 1 ] && args+=(--wait-stable)
$SWITCHCTL "${args[@]}"
rc=$?
case $rc in
0) ;;
4)
	# The guard moved traffic back to $active; the new container is what failed.
	on_host $DOCKER stop "$new" >/dev/null 2>&1 || true
	fail 4 "watch" "the guard reverted to $active; $new stopped, $image:$tag is not live"
	;;
*)
	# Nothing moved: $active still serves. The new container goes.
	on_host $DOCKER rm -f "$new" >/dev/null 2>&1 || true
	fail $rc "switchctl deploy" "exit $rc (3 refused, 5 timed out); $active still serves, $new removed"
	;;
esac

# 4. Keep the tags for a rollback.
mkdir -p "$TAGS_DIR"
[ -f "$TAGS_DIR/current" ] && cp "$TAGS_DIR/current" "$TAGS_DIR/previous"
printf '%s\n' "$tag" >"$TAGS_DIR/current"

# 5. The old colour: stop its container once nothing is in flight on it.
$SWITCHCTL wait "$SERVICE" drained "$active" --timeout 2m || fail $? "drain" "$active did not drain; $old left running"
on_host $DOCKER stop "$old" >/dev/null 2>&1 || true
echo "deploy.sh: $image:$tag is live on $idle; $old stopped (previous tag: $(cat "$TAGS_DIR/previous" 2>/dev/null || echo none))"
