#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Voices a subtitle file: each SRT cue is spoken at its own time by neuraltts, into a WAV file.
# Usage: voice-subtitles.sh [SUBTITLES.srt] [OUT.wav]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$here/../target/debug}"
in=${1:-$here/data/captions.srt}
out=${2:-captions.wav}

gst-launch-1.0 -q filesrc location="$in" ! subparse ! neuraltts ! audioconvert ! wavenc ! filesink location="$out"
