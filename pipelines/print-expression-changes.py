#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Prints each face's expression changes in a video, one line per `expression-changed` message.

Usage: print-expression-changes.py [VIDEO] [--inference-interval N] [--realtime]

Runs `filesrc ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! faceexpression ! fakesink`
(VIDEO defaults to the sample data/media/WolfgangLanger_Pexels.mp4) and prints, for each message,
the frame's timestamp (PTS), the track id and the old and new label; `(new)` marks a face's first label:

    0:00:00.083  track 1  (new) -> neutral
    0:00:05.464  track 1  neutral -> happy

Debian's /usr/bin/python3 with python3-gi (the pyenv python has no gi). The plugins are loaded
from GST_PLUGIN_PATH, by default target/debug of this checkout. Exits non-zero on a pipeline error.
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("GST_PLUGIN_PATH", str(HERE.parent / "target/debug"))

import gi  # noqa: E402 (GST_PLUGIN_PATH must be set before GStreamer starts)

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def clock(ns: int) -> str:
    if ns == Gst.CLOCK_TIME_NONE or ns < 0:
        return "-:--:--.---"
    ms = ns // 1_000_000
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = HERE.parent / "data/media/WolfgangLanger_Pexels.mp4"
    parser.add_argument("video", nargs="?", type=Path, default=default, help="video file (default: the sample)")
    parser.add_argument("--inference-interval", type=int, default=1, help="run the detector every N frames")
    parser.add_argument("--realtime", action="store_true", help="play at the video's speed (sync=true)")
    args = parser.parse_args()
    if not args.video.is_file():
        print(f"print-expression-changes: cannot read {args.video}", file=sys.stderr)
        return 1

    Gst.init(None)
    if Gst.ElementFactory.find("faceexpression") is None:
        print(
            "print-expression-changes: no faceexpression element: build the plugin"
            f" (cargo build -p gst-plugin-faceexpr) or set GST_PLUGIN_PATH (now {os.environ['GST_PLUGIN_PATH']})",
            file=sys.stderr,
        )
        return 1
    pipeline = Gst.parse_launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=BGRx"
        f" ! faceexpression post-messages=changes inference-interval={args.inference_interval}"
        f" ! fakesink sync={'true' if args.realtime else 'false'}"
    )
    pipeline.get_by_name("src").set_property("location", str(args.video))
    bus = pipeline.get_bus()
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        detail = msg.parse_error()[0].message if msg else "state change failed"
        print(f"print-expression-changes: {detail}", file=sys.stderr)
        return 1
    changes = 0
    status = 0
    try:
        while True:
            msg = bus.timed_pop_filtered(
                Gst.CLOCK_TIME_NONE,
                Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR,
            )
            if msg.type == Gst.MessageType.EOS:
                break
            if msg.type == Gst.MessageType.ERROR:
                err, debug = msg.parse_error()
                print(f"print-expression-changes: {err.message} ({debug})", file=sys.stderr)
                status = 1
                break
            s = msg.get_structure()
            if s is None or s.get_name() != "expression-changed":
                continue
            track = s.get_uint64("track-id")[1]
            old = s.get_string("old-label") or "(new)"
            new = s.get_string("new-label")
            print(f"{clock(s.get_uint64('pts')[1])}  track {track}  {old} -> {new}", flush=True)
            changes += 1
    except KeyboardInterrupt:
        status = 130
    finally:
        pipeline.set_state(Gst.State.NULL)
    print(f"print-expression-changes: {changes} changes", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
