#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the store tests on 127.0.0.1 (Debian packages).
#   scripts/start-postgres.sh        -> prints the URL the tests use (SKYNET_TEST_DATABASE_URL)
# Idempotent: does nothing when the server already answers. Needs root (apt-get, runuser) or a
# PostgreSQL already installed and a user allowed to run it.
set -euo pipefail
PGDIR="${SKYNET_PG_DIR:-/tmp/skynet-postgres}"
PORT="${SKYNET_PG_PORT:-54329}"
URL="postgresql://postgres@127.0.0.1:${PORT}/postgres"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

[ -n "$(bindir)" ] || "$(dirname "$0")/install-system-deps.sh" postgresql >&2  # stdout carries only the URL
[ -n "$(bindir)" ] || { echo "PostgreSQL is not installed and could not be installed (not root?)" >&2; exit 1; }
BIN="$(bindir)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then echo "$URL"; exit 0; fi
if [ ! -f "$PGDIR/PG_VERSION" ]; then
    mkdir -p "$PGDIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PGDIR"
    as_pg "$BIN/initdb" -D "$PGDIR" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
as_pg "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off -c full_page_writes=off" start >/dev/null
echo "$URL"
