#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Expressions for faces that another element found: OpenCV's facedetect (gstreamer1.0-opencv)
# detects, faceexpression (detection-source=upstream) tracks, classifies and smooths them and
# writes its params onto facedetect's own face metas, analyticsjson writes them as JSON lines.
# Usage: upstream-faces.sh [IN_VIDEO] [OUT.jsonl]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/../data/media/single_face.mp4}
out=${2:-faces.jsonl}

# facedetect works on RGB; display=false keeps it from drawing on the video.
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=RGB \
  ! facedetect display=false ! faceexpression detection-source=upstream \
  ! analyticsjson location="$out" include-empty=false ! fakesink
