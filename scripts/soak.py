#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Soak test (not part of the default test run): runs the video and TTS pipelines in one process
for a set time and reports how its memory grows.

* video: the sample clip through faceexpression ! expressionoverlay, flushing-seeked back to the start
  at every EOS (so seeks and track resets run for the whole soak);
* speech: neuralttssrc on benches/paragraph.txt, taken to NULL and back to PLAYING at every EOS
  (the voice is reloaded each time).

RSS (VmRSS) is sampled every 10 s. RSS swings by ~100 MiB within a cycle (the voice is loaded and
freed at every speech run), so one sample says little: the report compares the two minutes after
minute 2 with the last two minutes (median, minimum and maximum of each window; target: median
growth < 2 %), and also gives the single samples at minute 2 and at the end.

Usage: scripts/soak.py [--minutes 20] [--csv FILE]   (Debian's python3 with python3-gi; plugins
from target/release if built, else target/debug; override with GST_PLUGIN_PATH)
       scripts/soak.py --report FILE                 (the report of a saved CSV)
"""
import argparse
import os
import statistics
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
    ap.add_argument("--report", type=Path, help="only report on a CSV saved by --csv")
    args = ap.parse_args()
    if args.report:
        rows = args.report.read_text().splitlines()[1:]
        sys.exit(report([(float(t), int(r)) for t, r in (row.split(",") for row in rows)]))
    release = ROOT / "target/release/libgstfaceexpr.so"
    os.environ.setdefault("GST_PLUGIN_PATH", str(release.parent if release.exists() else ROOT / "target/debug"))
    Gst.init(None)

    video = Gst.parse_launch(
        f'filesrc location="{ROOT}/data/media/WolfgangLanger_Pexels.mp4" ! decodebin ! videoconvert '
        "! video/x-raw,format=BGRx ! faceexpression threads=1 ! expressionoverlay ! fakesink sync=false")
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
    print(f"\nsoak: {samples[-1][0] / 60:.1f} min, {counts['video loops']} video loops, "
          f"{counts['speech runs']} speech runs")
    sys.exit(report(samples))


def report(samples):
    """Prints the growth between the window after minute 2 and the last window; 0 if < 2 %."""
    end = samples[-1][0]
    early = [r for t, r in samples if 120 <= t < 240] or [samples[0][1]]
    late = [r for t, r in samples if t >= max(end - 120, 240)] or [samples[-1][1]]
    at2 = next((r for t, r in samples if t >= 120), samples[-1][1])
    print(f"single samples: {at2 / 1024:.1f} MiB at minute 2, {samples[-1][1] / 1024:.1f} MiB at the end, "
          f"peak {max(r for _, r in samples) / 1024:.1f} MiB")
    growth = {}
    for name, pick in (("median", statistics.median), ("min", min), ("max", max)):
        a, b = pick(early), pick(late)
        growth[name] = (b - a) / a * 100
        print(f"{name:>6} RSS, minutes 2-4 vs the last 2: {a / 1024:7.1f} -> {b / 1024:7.1f} MiB "
              f"({growth[name]:+.2f} %)")
    ok = growth["median"] < 2.0
    print(f"growth {growth['median']:+.2f} % (median; target < 2 %): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 2

if __name__ == "__main__":
    main()
