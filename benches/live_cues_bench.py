#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Onset lateness of live cues in `neuraltts` (issue 12, "Live cues on time").

    /usr/bin/python3 benches/live_cues_bench.py                      # this tree's target/debug
    /usr/bin/python3 benches/live_cues_bench.py --before DIR         # and a build of main, interleaved
    /usr/bin/python3 benches/live_cues_bench.py --repeats 3 --latency 400

The pipeline is the one the issue measured: `appsrc is-live=true format=time ! neuraltts
latency=L ! audioconvert ! fakesink sync=true` (clock-synced). Each cue is pushed when the
pipeline's running time reaches its PTS, as live captions arrive; short cues (up to 12 words)
alternate with 35-word cues of several clauses whose duration is short enough for `fit` to
speed them up. A cue's onset is the PTS of its first speech: `neuraltts` moves speech it could not have ready in time to the first sample that
can still be played, so onset - PTS is the lateness heard (taken from the
`neuraltts-sentence` messages, each cue's first being the one that starts with its words).
How far each cue's speech ends from the cue's end (`fit`) is printed too. Reported per cue kind: the lateness
of every cue, and the medians over --repeats runs.

`--before DIR` also runs a GST_PLUGIN_PATH holding another libgstneuraltts.so (e.g. main's: in a
checkout of main, `cargo build -p gst-plugin-neuraltts` and copy target/debug/libgstneuraltts.so
to DIR), each run in its own process, the two builds alternating.

Debian's python3 with python3-gi; builds nothing (run `cargo build -p gst-plugin-neuraltts`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

here = Path(__file__).resolve().parent
repo = here.parent

SHORT = [
    "Good evening, and welcome to the news.",
    "The storm has passed over the coast tonight.",
    "Thank you for joining us this evening.",
]
# 35 words each, four or five clauses.
LONG = [
    "When the morning train finally arrived at the station, the passengers hurried along the "
    "platform, carrying their heavy bags and umbrellas, while the conductor checked the tickets, "
    "and the rain kept falling on the roof.",
    "After several months of careful planning, the city council approved the new park, which will "
    "include a playground, a small lake, and gardens for local residents, although the work will "
    "not begin before next spring.",
]


def cues() -> list[tuple[float, float, str, str]]:
    """(pts, duration, kind, text): short and long cues alternating, with room between them."""
    out = []
    at = 1.0
    for i in range(2):
        out.append((at, 3.0, "short", SHORT[i]))
        at += 4.0
        out.append((at, 10.0, "long", LONG[i]))
        at += 12.0
    out.append((at, 3.0, "short", SHORT[2]))
    return out


def words(text: str) -> list[str]:
    return ["".join(c for c in w.lower() if c.isalnum()) for w in text.split()]


def worker(latency: int) -> dict:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    pipeline = Gst.parse_launch(
        "appsrc name=src is-live=true format=time caps=text/x-raw,format=utf8 "
        f"! neuraltts latency={latency} ! audioconvert ! fakesink name=sink sync=true"
    )
    src = pipeline.get_by_name("src")
    # neuraltts-sentence messages: (text, pts, duration) in ns.
    sentences: list[tuple[str, int, int]] = []
    warnings = []
    done = threading.Event()

    def on_message(_bus, message):
        structure = message.get_structure()
        if message.type == Gst.MessageType.ELEMENT and structure.get_name() == "neuraltts-sentence":
            pts = structure.get_uint64("pts").value
            sentences.append((structure.get_string("text"), pts, structure.get_uint64("duration").value))
        elif message.type == Gst.MessageType.WARNING:
            warnings.append(message.parse_warning()[0].message)
        elif message.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
            if message.type == Gst.MessageType.ERROR:
                print(message.parse_error(), file=sys.stderr)
            done.set()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    # The sink prerolls on the first audio: in a live pipeline the state change does not wait.
    clock = None
    while clock is None:
        time.sleep(0.01)
        clock = pipeline.get_clock()
    base = pipeline.get_base_time()

    def running_time() -> float:
        return (clock.get_time() - base) / 1e9

    plan = cues()

    def feed():
        for pts, duration, _, text in plan:
            while running_time() < pts:
                time.sleep(0.002)
            buffer = Gst.Buffer.new_wrapped(text.encode())
            buffer.pts = int(pts * 1e9)
            buffer.duration = int(duration * 1e9)
            src.emit("push-buffer", buffer)
        last_end = plan[-1][0] + plan[-1][1]
        while running_time() < last_end + 0.5:
            time.sleep(0.01)
        src.emit("end-of-stream")

    threading.Thread(target=feed, daemon=True).start()
    from gi.repository import GLib

    loop = GLib.MainLoop()
    GLib.timeout_add(50, lambda: (loop.quit() if done.is_set() else True))
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    results = []
    # A cue's speech starts with the sentence message that starts with its first words.
    starts = []
    for pts, _, _, text in plan:
        head = words(text)[:3]
        starts.append(next(
            (i for i, (said, at, _) in enumerate(sentences)
             if at >= int(pts * 1e9) and said and head[:len(words(said)[:3])] == words(said)[:3]),
            None,
        ))
    for i, (pts, duration, kind, text) in enumerate(plan):
        first = starts[i]
        if first is None:
            results.append({"kind": kind, "words": len(text.split()), "late_ms": None})
            continue
        after = [s for s in starts[i + 1:] if s is not None]
        own = sentences[first:after[0] if after else len(sentences)]
        end = own[-1][1] + own[-1][2]
        results.append({
            "kind": kind,
            "words": len(text.split()),
            "pts": pts,
            "late_ms": (own[0][1] - int(pts * 1e9)) / 1e6,
            "overrun_ms": (end - int((pts + duration) * 1e9)) / 1e6,
            "messages": len(own),
        })
    return {"cues": results, "warnings": len(warnings)}


def run(plugin_path: Path, latency: int) -> dict:
    env = dict(os.environ, GST_PLUGIN_PATH=str(plugin_path))
    out = subprocess.run(
        ["/usr/bin/python3", __file__, "--worker", "--latency", str(latency)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=300, help="neuraltts latency, ms")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--before", type=Path, help="GST_PLUGIN_PATH of a build to compare")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.latency)))
        return 0
    builds = {"after": repo / "target" / "debug"}
    if args.before:
        builds = {"before": args.before, **builds}
    runs: dict[str, list[dict]] = {name: [] for name in builds}
    for _ in range(args.repeats):
        for name, path in builds.items():
            result = run(path, args.latency)
            runs[name].append(result)
            lates = " ".join(
                f"{c['kind']}({c['words']}w)={c['late_ms']:.0f}" if c["late_ms"] is not None
                else f"{c['kind']}=none"
                for c in result["cues"]
            )
            print(f"{name:6} latency={args.latency} ms, onset lateness (ms): {lates}; "
                  f"{result['warnings']} warnings", flush=True)
    for name, results in runs.items():
        for kind in ("short", "long"):
            lates = [c["late_ms"] for r in results for c in r["cues"]
                     if c["kind"] == kind and c["late_ms"] is not None]
            if lates:
                over = [c["overrun_ms"] for r in results for c in r["cues"]
                        if c["kind"] == kind and c["late_ms"] is not None]
                print(f"{name:6} {kind:5} cues: median {statistics.median(lates):.0f} ms, "
                      f"max {max(lates):.0f} ms late (n={len(lates)}); speech ends "
                      f"{statistics.median(over):+.0f} ms from the cue end (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
