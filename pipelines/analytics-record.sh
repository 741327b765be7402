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

# async=false on both sinks: neither branch waits for the other to preroll (the encoder holds
# frames back before its first output while the analysis queue is already full). sync=false on
# the analysis sink: with sync=true it could hang at EOS on GStreamer 1.22 (seen once in ~5 runs).
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
  ! tee name=t \
  t. ! queue ! faceexpression ! analyticsjson location="$json" ! fakesink sync=false async=false \
  t. ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast \
     ! mp4mux ! filesink location="$out" async=false
