#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Sets up the machine (scripts/setup.sh), builds the plugins and runs the demo: annotates the
# sample video with face tracks and expressions into an MP4 with overlay, and speaks a paragraph
# into a WAV. Prints where the outputs are.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --workspace --locked --release
export GST_PLUGIN_PATH="$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
out="$PWD/output"
mkdir -p "$out"

pipelines/annotate-video.sh data/media/WolfgangLanger_Pexels.mp4 "$out/annotated.mp4"
pipelines/speak-text.sh pipelines/paragraph.txt "$out/speech.wav"

echo
echo "demo outputs:"
echo "  annotated video: $out/annotated.mp4"
echo "  speech:          $out/speech.wav"
