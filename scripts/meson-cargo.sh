#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# meson's custom_target for the plugins: one cargo build of the workspace, then copy the plugin
# libraries to meson's outputs. Usage: meson-cargo.sh SRC BUILD PROFILE DATADIR OUTPUT...
set -euo pipefail
src=$1 build=$2 profile=$3 datadir=$4
shift 4
export CARGO_TARGET_DIR="$build/target"
export NEURAL_MEDIA_DEFAULT_DATA_DIR="$datadir"
cargo build --manifest-path "$src/Cargo.toml" --workspace --locked --profile "$profile"
outdir=$([ "$profile" = dev ] && echo debug || echo "$profile")
for out in "$@"; do
  cp "$CARGO_TARGET_DIR/$outdir/$(basename "$out")" "$out"
done
