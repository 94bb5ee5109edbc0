#!/usr/bin/env bash
# Installs the Debian packages the tests use, when they are missing: a CJK font (synthetic plates), ffmpeg
# (test clips), the GStreamer RTSP server (live-camera tests), Mosquitto (MQTT alerts), PostgreSQL (store),
# Chromium (web UI tests), Kannel with its fake SMSC (SMS alerts), aiosmtpd for the system python3 (e-mail alerts).
# Needs root or sudo; without either it says what to install and carries on (those tests skip, or fail
# under CI=true).
#   scripts/install-system-deps.sh [PACKAGE ...]    (default: every package the tests use)
set -euo pipefail

packages=(
    fonts-wqy-zenhei ffmpeg mosquitto postgresql chromium
    python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    kannel kannel-extras python3-aiosmtpd
)
[ $# -gt 0 ] && packages=("$@")
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo)
else
    echo "install-system-deps: not root; please install: ${missing[*]} (tests that need them skip, or fail under CI=true)" >&2
    exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
