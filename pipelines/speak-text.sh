#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Speaks a UTF-8 text file into a WAV file with neuralttssrc (sentence by sentence, offline).
# Usage: speak-text.sh [TEXT_FILE] [OUT.wav]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/paragraph.txt}
out=${2:-speech.wav}

gst-launch-1.0 -q neuralttssrc location="$in" ! audioconvert ! audio/x-raw,format=S16LE ! wavenc ! filesink location="$out"
