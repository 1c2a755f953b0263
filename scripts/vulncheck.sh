#!/usr/bin/env bash
# govulncheck against a vulnerability database built locally from the
# golang.org/x/vulndb module (served by the Go module proxy), for machines that
# cannot reach vuln.go.dev. Exits non-zero when an advisory is reachable from
# switchd's code. VULNDB_VERSION pins the snapshot of the database.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
db=${VULNDB_DIR:-${TMPDIR:-/tmp}/switchd-vulndb-$VULNDB_VERSION}
if [ ! -f "$db/index/db.json" ]; then
	src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
	rm -rf "$db.tmp"
	go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
	rm -rf "$db" && mv "$db.tmp" "$db"
fi
exec go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$db" "$@" ./...
