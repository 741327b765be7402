#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A broadcast-style mix: the annotated video with a synthesized commentary (neuralttssrc) and the
# spoken expression changes (expressiondescribe ! neuraltts) mixed by audiomixer into one MP4.
# Usage: broadcast-mix.sh [IN_VIDEO] [OUT.mp4] [COMMENTARY_TEXT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${2:-broadcast.mp4}
commentary=${3:-Good evening. Tonight, a face tells its own story.}

# The commentary starts at 0 and is mixed with the narration, which starts with the first face
# (quieter, so that both stay intelligible when they overlap). Every branch has a queue (see
# expressiondescribe); the audio queues hold up to 5 s so that x264enc's delay starves nothing.
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
  ! faceexpression ! expressiondescribe name=d ! expressionoverlay ! videoconvert \
  ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast ! queue ! mp4mux name=m \
  ! filesink location="$out" \
  d.text ! queue max-size-time=5000000000 max-size-buffers=0 max-size-bytes=0 ! neuraltts volume=0.6 \
  ! audioconvert ! audioresample ! mix. \
  neuralttssrc text="$commentary" ! audioconvert ! audioresample ! mix. \
  audiomixer name=mix ! audio/x-raw,rate=44100,channels=1 ! audioconvert ! avenc_aac \
  ! queue max-size-time=5000000000 max-size-buffers=0 max-size-bytes=0 ! m.
