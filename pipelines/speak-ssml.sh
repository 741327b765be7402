#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Speaks an SSML document into a WAV file with neuralttssrc text-format=ssml (breaks, prosody,
# say-as, sub, phoneme, marks; -m prints the neuraltts-mark messages with their times).
# Usage: speak-ssml.sh [DOCUMENT.ssml] [OUT.wav]
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/data/announcement.ssml}
out=${2:-announcement.wav}

gst-launch-1.0 -m neuralttssrc text-format=ssml speech-marks=sentence+ssml location="$in" ! audioconvert ! audio/x-raw,format=S16LE ! wavenc ! filesink location="$out" \
  | { grep -E 'neuraltts-(mark|sentence)|WARNING' || true; }
