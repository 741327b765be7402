#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
# Pushes text from Python into a playing, live neuralttssrc (push-text) and records the voice to WAV.
#
# Usage: push-live-text.py [OUT.wav] [TEXT ...]
# Debian's python3 with python3-gi (the pyenv python has no gi). GST_PLUGIN_PATH defaults to
# the repository's target/debug.
import os
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

here = Path(__file__).resolve().parent
os.environ.setdefault("GST_PLUGIN_PATH", str(here.parent / "target" / "debug"))
Gst.init(None)

out = sys.argv[1] if len(sys.argv) > 1 else "live.wav"
lines = sys.argv[2:] or [
    "Hello from Python.",
    "This sentence was pushed while the pipeline was already playing.",
    "Goodbye.",
]

pipeline = Gst.parse_launch(
    "neuralttssrc name=tts is-live=true ! audioconvert ! audio/x-raw,format=S16LE "
    f"! wavenc ! filesink location={out}"
)
tts = pipeline.get_by_name("tts")
loop = GLib.MainLoop()
status = 0
to_speak = len(lines)


def on_message(_bus, message):
    global status, to_speak
    if message.type == Gst.MessageType.ELEMENT and message.get_structure().get_name() == "neuraltts-sentence":
        s = message.get_structure()
        print(f"{s.get_uint64('pts').value / 1e9:7.2f} s  {s.get_string('text')}", flush=True)
        to_speak -= 1
        if to_speak == 0:
            # End once the last sentence has played out (the source runs in real time).
            wait_ms = s.get_uint64("duration").value // 1_000_000 + 500
            GLib.timeout_add(wait_ms, lambda: pipeline.send_event(Gst.Event.new_eos()) and False)
    elif message.type == Gst.MessageType.EOS:
        loop.quit()
    elif message.type == Gst.MessageType.ERROR:
        err, debug = message.parse_error()
        print(f"error: {err.message} ({debug})", file=sys.stderr)
        status = 1
        loop.quit()


def push_next():
    tts.emit("push-text", lines.pop(0))
    return bool(lines)  # the next line in 2 s, while there is one


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
pipeline.set_state(Gst.State.PLAYING)
GLib.timeout_add(2000, push_next)
loop.run()
pipeline.set_state(Gst.State.NULL)
print(f"wrote {out}")
sys.exit(status)
