#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Records a video and analyses it side by side: one decode, a tee, one branch encoding the frames
# to an H.264 MP4, the other running faceexpression and writing each frame's faces as JSON lines.
# Usage: analytics-record.sh [IN_VIDEO] [OUT.mp4] [OUT.jsonl]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${2:-recording.mp4}
json=${3:-faces.jsonl}

# Both sinks preroll as usual (async). The analysis queue holds up to 2 s of frames with no
# buffer or byte limit: while the pipeline prerolls, x264enc takes a few dozen frames before its
# first output and the analysis sink is already waiting, so a default queue (10 MB, ~11 frames
# here) would fill and stall the tee. The sinks write files: no clock sync (sync=false).
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
  ! tee name=t \
  t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000 \
     ! faceexpression ! analyticsjson location="$json" ! fakesink sync=false \
  t. ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast \
     ! mp4mux ! filesink location="$out"
