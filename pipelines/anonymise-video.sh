#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Anonymises a video: every face found is blurred (or pixelated), with nothing written about it,
# into an H.264 MP4.
# Usage: anonymise-video.sh [IN_VIDEO] [OUT.mp4] [blur|pixelate]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${2:-anonymised.mp4}
privacy=${3:-blur}

# Converted to packed RGB before the analysis, so the overlay reads the metas on the same buffers.
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
  ! faceexpression ! expressionoverlay privacy="$privacy" show-labels=false line-width=1 \
  ! videoconvert ! video/x-raw,format=I420 \
  ! x264enc speed-preset=veryfast ! mp4mux ! filesink location="$out"
