#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
# From Python: reads the face metas of faceexpression in a pad probe, listens to its bus
# messages, and voices each expression change by pushing text into a live neuralttssrc.
#
# Usage: python-expressions.py [VIDEO] [OUT.wav]
# Debian's python3 with python3-gi (the pyenv python has no gi). GST_PLUGIN_PATH defaults to
# the repository's target/debug.
import os
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

here = Path(__file__).resolve().parent
os.environ.setdefault("GST_PLUGIN_PATH", str(here.parent / "target" / "debug"))
Gst.init(None)

video = sys.argv[1] if len(sys.argv) > 1 else str(here.parent / "data/media/WolfgangLanger_Pexels.mp4")
out = sys.argv[2] if len(sys.argv) > 2 else "expressions.wav"

analysis = Gst.parse_launch(
    f'filesrc location="{video}" ! decodebin ! videoconvert ! video/x-raw,format=BGRx '
    "! faceexpression ! fakesink name=sink sync=false"
)
voice = Gst.parse_launch(
    "neuralttssrc name=tts is-live=true ! audioconvert ! audio/x-raw,format=S16LE "
    f'! wavenc ! filesink location="{out}"'
)
tts = voice.get_by_name("tts")
roi_api = GstVideo.VideoRegionOfInterestMeta.get_info().api
max_track = 0
last_printed = {}
ADJECTIVES = {"angry": "angry", "disgust": "disgusted", "fear": "afraid", "happy": "happy",
              "sad": "sad", "surprise": "surprised", "neutral": "neutral"}


def faces(buffer):
    """The face metas of a buffer: (track id, box, label, confidence)."""
    found = []
    wanted = buffer.get_n_meta(roi_api)
    track = 1
    while len(found) < wanted and track <= max_track + wanted:
        meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buffer, track)
        if meta and GLib.quark_to_string(meta.roi_type) == "face":
            expression = meta.get_param("expression")
            found.append((meta.id, (meta.x, meta.y, meta.w, meta.h),
                          expression.get_string("label"), expression.get_double("confidence")[1]))
        track += 1
    return found


def on_buffer(_pad, info):
    global max_track
    buffer = info.get_buffer()
    for track, box, label, confidence in faces(buffer):
        max_track = max(max_track, track)
        if last_printed.get(track) != label:  # one line per stable label, not per frame
            last_printed[track] = label
            print(f"{buffer.pts / 1e9:6.2f} s  face {track} at {box}: {label} ({confidence:.2f})", flush=True)
    return Gst.PadProbeReturn.OK


loop = GLib.MainLoop()
pending = 0
video_done = False
status = 0


def finish_if_done():
    if video_done and pending == 0:
        voice.send_event(Gst.Event.new_eos())


def on_analysis_message(_bus, message):
    global pending, video_done, status
    s = message.get_structure()
    if message.type == Gst.MessageType.ELEMENT and s.get_name() == "expression-changed":
        label = s.get_string("new-label")
        sentence = f"Person {s.get_uint64('track-id').value} now looks {ADJECTIVES.get(label, label)}."
        pending += 1
        tts.emit("push-text", sentence)
    elif message.type == Gst.MessageType.EOS:
        video_done = True
        finish_if_done()
    elif message.type == Gst.MessageType.ERROR:
        print(f"error: {message.parse_error()[0].message}", file=sys.stderr)
        status = 1
        loop.quit()


def on_voice_message(_bus, message):
    global pending, status
    s = message.get_structure()
    if message.type == Gst.MessageType.ELEMENT and s.get_name() == "neuraltts-sentence":
        print(f"said at {s.get_uint64('pts').value / 1e9:6.2f} s: {s.get_string('text')}", flush=True)
        pending -= 1
        if pending == 0 and video_done:
            # Let the sentence play out (the live source runs in real time), then stop.
            GLib.timeout_add(s.get_uint64("duration").value // 1_000_000 + 300, finish_if_done)
    elif message.type == Gst.MessageType.EOS:
        loop.quit()
    elif message.type == Gst.MessageType.ERROR:
        print(f"error: {message.parse_error()[0].message}", file=sys.stderr)
        status = 1
        loop.quit()


analysis.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)
for pipeline, handler in ((analysis, on_analysis_message), (voice, on_voice_message)):
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", handler)
voice.set_state(Gst.State.PLAYING)
analysis.set_state(Gst.State.PLAYING)
loop.run()
analysis.set_state(Gst.State.NULL)
voice.set_state(Gst.State.NULL)
print(f"wrote {out}")
sys.exit(status)
