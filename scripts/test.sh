#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Sets up the machine (scripts/setup.sh) and runs the whole test suite: formatting, clippy and
# licence checks, then every test of the workspace with cargo nextest — unit tests, real-model tests,
# GStreamer Harness tests and the pipeline scripts. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
.venv/bin/python scripts/check-licenses.py
# The plugin shared libraries are what gst-inspect and the pipeline scripts load.
cargo build --workspace --locked
G_DEBUG=fatal_warnings cargo nextest run --workspace --locked --no-fail-fast "$@"
