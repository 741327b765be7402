#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Shows live faces with their track ids and expressions on screen: a camera (or a test pattern, or a looped file) → faceexpression → expressionoverlay → a window.
#
# Usage: camera-to-screen.sh [--device /dev/videoN | --test | --file VIDEO] [--sink SINK] [--num-buffers N]
#   (no option)    v4l2src on $DEVICE (default /dev/video0); the test pattern when it does not exist
#   --test         videotestsrc is-live=true pattern=ball (no faces in it: only shows the pipeline runs)
#   --file VIDEO   plays VIDEO in a loop (the pipeline restarts at each end)
#   --sink SINK    video sink (default autovideosink; env SINK)
#   --num-buffers N  stop after N frames (env NUM_BUFFERS; 0, the default, runs until Ctrl-C;
#                  with --file: one pass of at most N frames)
# Headless, as the tests run it: SINK=fakesink NUM_BUFFERS=60 pipelines/camera-to-screen.sh --test
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"

device=${DEVICE:-/dev/video0}
sink=${SINK:-autovideosink}
num_buffers=${NUM_BUFFERS:-0}
mode=camera
file=
while [ $# -gt 0 ]; do
  case $1 in
    --test) mode=test ;;
    --file) mode=file; file=${2:?--file needs a path}; shift ;;
    --device) device=${2:?--device needs a path}; shift ;;
    --sink) sink=${2:?--sink needs an element}; shift ;;
    --num-buffers) num_buffers=${2:?--num-buffers needs a number}; shift ;;
    -h | --help) sed -n '3,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "camera-to-screen.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $num_buffers in
  '' | *[!0-9]*) echo "camera-to-screen.sh: NUM_BUFFERS must be a number, not '$num_buffers'" >&2; exit 2 ;;
esac
if [ "$mode" = camera ] && [ ! -e "$device" ]; then
  echo "camera-to-screen.sh: no camera at $device, showing the test pattern" >&2
  mode=test
fi
if [ "$mode" = file ] && [ ! -r "$file" ]; then
  echo "camera-to-screen.sh: cannot read $file" >&2
  exit 1
fi
limit=
if [ "$num_buffers" -gt 0 ]; then
  limit="num-buffers=$num_buffers"
fi

# The analysis reads packed BGRx, converted once before it (a videoconvert between
# faceexpression and expressionoverlay would drop the metas' params on 1.22). With a live source and a
# syncing sink, late frames skip the detector (QoS) instead of falling behind.
analysis=(videoconvert ! video/x-raw,format=BGRx ! faceexpression ! expressionoverlay ! videoconvert ! "$sink")

case $mode in
  camera)
    exec gst-launch-1.0 v4l2src device="$device" $limit ! decodebin ! "${analysis[@]}"
    ;;
  test)
    exec gst-launch-1.0 videotestsrc is-live=true pattern=ball $limit \
      ! video/x-raw,width=640,height=480,framerate=30/1 ! "${analysis[@]}"
    ;;
  file)
    if [ "$num_buffers" -gt 0 ]; then
      exec gst-launch-1.0 filesrc location="$file" ! decodebin ! identity eos-after="$num_buffers" \
        ! "${analysis[@]}"
    fi
    trap 'exit 130' INT # gst-launch handles Ctrl-C itself and exits 0: stop looping then
    while :; do
      gst-launch-1.0 filesrc location="$file" ! decodebin ! "${analysis[@]}"
    done
    ;;
esac
