#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Soak test (not part of the default test run): runs the video and TTS pipelines in one process
for a set time and reports how its memory grows.

* video: the sample clip through faceexpression ! faceoverlay, flushing-seeked back to the start
  at every EOS (so seeks and track resets run for the whole soak);
* speech: neuralttssrc on benches/paragraph.txt, taken to NULL and back to PLAYING at every EOS
  (the voice is reloaded each time).

RSS (VmRSS) is sampled every 10 s; the report gives RSS at minute 2 and at the end and the growth
between them (target < 2 %), with the number of video loops and speech runs.

Usage: scripts/soak.py [--minutes 20] [--csv FILE]   (Debian's python3 with python3-gi; plugins
from target/release if built, else target/debug; override with GST_PLUGIN_PATH)
"""
import argparse
import os
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    release = ROOT / "target/release/libgstfaceexpr.so"
    os.environ.setdefault("GST_PLUGIN_PATH", str(release.parent if release.exists() else ROOT / "target/debug"))
    Gst.init(None)

    video = Gst.parse_launch(
        f'filesrc location="{ROOT}/data/media/WolfgangLanger_Pexels.mp4" ! decodebin ! videoconvert '
        "! video/x-raw,format=BGRx ! faceexpression threads=1 ! faceoverlay ! fakesink sync=false")
    speech = Gst.parse_launch(
        f'neuralttssrc location="{ROOT}/benches/paragraph.txt" threads=1 ! fakesink sync=false')
    counts = {"video loops": 0, "speech runs": 0}
    loop = GLib.MainLoop()
    failed = []

    def on_message(bus, message, pipeline, name):
        if message.type == Gst.MessageType.EOS:
            if pipeline is video:
                counts["video loops"] += 1
                pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0)
            else:
                counts["speech runs"] += 1
                pipeline.set_state(Gst.State.NULL)
                pipeline.set_state(Gst.State.PLAYING)
        elif message.type == Gst.MessageType.ERROR:
            failed.append(f"{name}: {message.parse_error()[0].message}")
            loop.quit()

    for pipeline, name in ((video, "video"), (speech, "speech")):
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", on_message, pipeline, name)
        pipeline.set_state(Gst.State.PLAYING)

    start = time.monotonic()
    samples = []

    def sample():
        t = time.monotonic() - start
        samples.append((t, rss_kib()))
        print(f"{t / 60:6.2f} min  RSS {samples[-1][1] / 1024:8.1f} MiB  "
              f"video loops {counts['video loops']}  speech runs {counts['speech runs']}", flush=True)
        if t >= args.minutes * 60:
            loop.quit()
            return False
        return True

    sample()
    GLib.timeout_add_seconds(10, sample)
    loop.run()
    for pipeline in (video, speech):
        pipeline.set_state(Gst.State.NULL)
    if failed:
        print("soak failed:", *failed, sep="\n  ")
        sys.exit(1)
    if args.csv:
        args.csv.write_text("seconds,rss_kib\n" + "".join(f"{t:.1f},{r}\n" for t, r in samples))
    after2 = [r for t, r in samples if t >= 120] or [samples[-1][1]]
    first, last = after2[0], samples[-1][1]
    growth = (last - first) / first * 100
    print(f"\nsoak: {samples[-1][0] / 60:.1f} min, {counts['video loops']} video loops, "
          f"{counts['speech runs']} speech runs")
    print(f"RSS at minute 2: {first / 1024:.1f} MiB, at the end: {last / 1024:.1f} MiB, "
          f"peak {max(r for _, r in samples) / 1024:.1f} MiB, growth {growth:+.2f} % (target < 2 %)")
    sys.exit(0 if growth < 2.0 else 2)


if __name__ == "__main__":
    main()
