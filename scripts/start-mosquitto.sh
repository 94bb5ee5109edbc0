#!/usr/bin/env bash
# Runs a local Mosquitto MQTT broker for development: 127.0.0.1 only, anonymous, in the foreground.
# (The tests start their own brokers; see tests/servers.py.)
#   scripts/start-mosquitto.sh [PORT]        (default 1883; Ctrl-C stops it)
# Installs the Debian package 'mosquitto' first when it is missing (scripts/install-system-deps.sh).
set -euo pipefail
port="${1:-1883}"

find_mosquitto() { command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true; }

binary="$(find_mosquitto)"
if [ -z "$binary" ]; then
    "$(dirname "$0")/install-system-deps.sh" mosquitto
    binary="$(find_mosquitto)"
    [ -n "$binary" ] || { echo "start-mosquitto: mosquitto is not installed" >&2; exit 1; }
fi

echo "start-mosquitto: broker on 127.0.0.1:$port (no persistence)"
exec "$binary" -c /dev/stdin <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest stdout
user $(id -un)
CONF
