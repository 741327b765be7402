#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Accessibility narration: the annotated video with each face expression change spoken in time
# with it (faceexpression ! expressiondescribe ! neuraltts), into one MP4 (H.264 + AAC).
# Usage: narrate-expressions.sh [IN_VIDEO] [OUT.mp4] [TEMPLATE]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${2:-narrated.mp4}
default_template='Person {id} now looks {label}.'
template=${3:-$default_template}

# The queues decouple the two branches: x264enc holds back frames, neuraltts synthesises a whole
# sentence at once; the audio branch's queues hold up to 5 s so that neither starves the muxer.
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
  ! faceexpression ! expressiondescribe name=d template="$template" ! expressionoverlay ! videoconvert \
  ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast ! queue ! mp4mux name=m \
  ! filesink location="$out" \
  d.text ! queue max-size-time=5000000000 max-size-buffers=0 max-size-bytes=0 ! neuraltts \
  ! audioconvert ! audioresample ! avenc_aac \
  ! queue max-size-time=5000000000 max-size-buffers=0 max-size-bytes=0 ! m.
