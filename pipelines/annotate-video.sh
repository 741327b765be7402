#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Annotates a video file with face tracks and expressions into an H.264 MP4 with the overlay drawn.
# Usage: annotate-video.sh [IN_VIDEO] [OUT.mp4]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${2:-annotated.mp4}

# Convert once, before the analysis: the overlay then reads the metas on the same buffers (a
# videoconvert between faceexpression and expressionoverlay would drop the metas' params on 1.22).
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
  ! faceexpression ! expressionoverlay show-probabilities=true ! videoconvert ! video/x-raw,format=I420 \
  ! x264enc speed-preset=veryfast ! mp4mux ! filesink location="$out"
