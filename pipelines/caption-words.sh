#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Word-by-word captions: an SRT file voiced by neuraltts, and each word burned into the video
# (textoverlay) while it is spoken, from neuraltts's `words` pad (one text buffer per word, GAP
# events between them). Video re-encoded to H.264, the speech to AAC, muxed into one MP4.
# Usage: caption-words.sh [SUBTITLES.srt] [IN_VIDEO.mp4] [OUT.mp4]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
srt=${1:-$here/data/sample-captions.srt}
in=${2:-$here/../data/media/WolfgangLanger_Pexels.mp4}
out=${3:-captioned-words.mp4}

# A queue on every branch: neuraltts synthesises a whole cue before it pushes its audio and
# words, textoverlay holds each frame until it knows the text for its time, x264enc holds back
# frames. The words queue is unbounded in time (a cue's words can span several seconds).
gst-launch-1.0 -q mp4mux name=m ! filesink location="$out" \
  filesrc location="$in" ! qtdemux name=demux demux.video_0 ! queue ! decodebin ! videoconvert \
  ! textoverlay name=overlay valignment=bottom halignment=center font-desc="Sans Bold 32" \
  ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast ! queue ! m.video_0 \
  filesrc location="$srt" ! subparse ! neuraltts name=tts ! queue max-size-time=5000000000 \
  ! audioconvert ! audioresample ! avenc_aac ! queue ! m.audio_0 \
  tts.words ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! overlay.text_sink
