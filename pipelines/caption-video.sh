#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Audio description from captions: an SRT file voiced by neuraltts (each cue at its time) and
# muxed with the video it belongs to into one MP4 (the H.264 video is copied, not re-encoded;
# the speech replaces the original soundtrack).
# Usage: caption-video.sh [SUBTITLES.srt] [IN_VIDEO.mp4] [OUT.mp4]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
srt=${1:-$here/data/sample-captions.srt}
in=${2:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${3:-captioned.mp4}

# The pads are named: the demuxer's video appears later, and mp4mux must give it a video pad.
gst-launch-1.0 -q mp4mux name=m ! filesink location="$out" \
  filesrc location="$in" ! qtdemux name=demux demux.video_0 ! queue ! m.video_0 \
  filesrc location="$srt" ! subparse ! neuraltts ! audioconvert ! audioresample ! avenc_aac \
  ! queue ! m.audio_0
