#!/usr/bin/env bash
# Developer convenience: a long-lived local PostgreSQL on 127.0.0.1 (Debian packages), e.g. to try
# SKYNET_DATABASE_URL by hand. The tests do not need it: they start their own throw-away server in a
# temporary directory and stop it at the end (tests/servers.py); to run them against this one instead:
#   SKYNET_TEST_DATABASE_URL=$(scripts/start-postgres.sh) pytest tests/test_store.py
#   scripts/start-postgres.sh        -> prints the server's URL
# Idempotent: does nothing when the server already answers. It keeps running until stopped:
#   runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D /tmp/skynet-postgres stop   (as root)
# Needs root (apt-get, runuser) or a PostgreSQL already installed and a user allowed to run it.
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
