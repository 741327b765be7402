#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Many streams in one process: what the shared inference engine (src/engine.rs) buys (issue #10).

Run from anywhere, after scripts/setup.sh (data/, Debian's GStreamer, python3-gi, espeak-ng):

    python3 benches/streams_bench.py                          # everything, 3 rounds
    python3 benches/streams_bench.py --only video --only python --streams 1,4 --json out.json
    python3 benches/streams_bench.py --only seek --no-build --plugin-dir ../wt-old/target/release

In one run it builds both plugins in release (`cargo build --release --locked -p
gst-plugin-faceexpr -p gst-plugin-neuraltts`, skip with --no-build; --plugin-dir loads the plugins
from another build instead, e.g. one of an older commit for a "before" figure), reuses the venvs of
face_bench.py (benches/.venv-face: onnxruntime, OpenCV) and tts_bench.py (benches/.venv:
onnxruntime, piper-tts), writes its inputs into target/streams-bench/, and measures five sections:

  video    N = --streams (1, 2, 4, 8) copies of `filesrc ! decodebin ! videoconvert ! ELEMENT !
           fakesink sync=false` on data/media/WolfgangLanger_Pexels.mp4 (640x360, 472 frames),
           all in ONE pipeline of one worker process (python3-gi), with ELEMENT one of
             default   `faceexpression` with default properties: threads=0, the engine shares one
                       detector and one classifier between the N elements and schedules their runs
                       within one thread budget (one token per core); detection-mode=roi;
             full      the same with `detection-mode=full` (the whole frame at every frame);
             threads1  `faceexpression threads=1`, threads2 `faceexpression threads=2`: a private
                       session with its own pool per element (the design before the engine);
             identity  `identity`: decoding alone, the RSS and threads baseline.
           fps: frames at all N sinks / wall time from the return of set_state(PLAYING) (models
           loaded inside it) to the EOS of all N. At EOS the worker reads its peak RSS (VmHWM) and
           thread count from /proc/self/status. Reported: aggregate fps, fps(N) / fps(1), peak RSS,
           RSS per added stream beyond what the identity pipelines add
           ((RSS(N) - RSS(1)) - (RSS_identity(N) - RSS_identity(1))) / (N - 1), and threads.
  python   N concurrent processes of face_bench.py's Python reference (worker_python: OpenCV
           decodes, onnxruntime sessions built as the element builds them) with 1 and 2 intra-op
           threads per session. The N processes build their sessions, wait at a barrier, then run
           their loops together; aggregate fps: N * frames / (last loop end - first loop start);
           peak RSS: the sum of the N processes' VmHWM. Compared with the element (default) at the
           same N.
  tts      1 and 4 `filesrc ! subparse ! neuraltts noise-scale=0 noise-w=0 ! fakesink sync=false`
           in one process, each voicing its own SRT file (target/streams-bench/voice-K.srt: the
           sentences of benches/paragraph.txt rotated by K, one cue each, spaced so that speech
           fits its cue) with the same (default) voice. Peak RSS of each process and RTF: wall
           time from the return of set_state(PLAYING) to EOS / seconds of speech (non-GAP audio)
           at all sinks.
  seek     `filesrc ! subparse ! neuraltts ! fakesink sync=false` on an SRT whose first cue is one
           word (the pipeline prerolls on it) and whose second is a ~60-word sentence (one model
           run): start PLAYING, wait until the pipeline reached PLAYING and 200 ms passed (the long
           synthesis is then under way, checked: its neuraltts-sentence message was not posted
           yet), then time pipeline.seek_simple(TIME, FLUSH, 0) until it returns, and until the
           next ASYNC_DONE (which includes synthesising the one-word cue again). Several seeks per
           worker; the long sentence's synthesis time is measured once after the last seek.
  paragraph
           whole-process wall time of `gst-launch-1.0 -q neuralttssrc location=benches/paragraph.txt
           ! fakesink` against piper-tts 1.8.0 speaking the same paragraph in its own process
           (`python -m piper`, its command line, writing a WAV into target/streams-bench/); both
           with their defaults (voice noise, ONNX Runtime threads: one per core).

Every measurement runs in its own process; a round runs each measurement once, interleaving the
kinds (odd rounds in reverse order), after one short warm-up run of every kind; the medians over
--repeats rounds are reported with min-max, with these targets:

  video, default: fps(N) / fps(1) at N = 2, 4, 8                          target >= 1.0
  video, default: RSS per added stream beyond identity                    target <= 10 MB
  element (default) fps / python (faster thread setting) fps at N = 4     target >= 1.15
  tts: peak RSS of 4 neuraltts sharing a voice / RSS of 1                  target <= 1.3
  paragraph: neuralttssrc process time / piper-tts process time           target <= 0.85
  seek: no target (compare a build before the engine with --plugin-dir)
"""

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benches"
sys.path.insert(0, str(BENCH))
sys.dont_write_bytecode = True  # no benches/__pycache__ from these imports
import face_bench  # noqa: E402  (stdlib only at import time)
import tts_bench  # noqa: E402

TARGET = ROOT / "target/streams-bench"
VIDEO = face_bench.VIDEO
VIDEO_FRAMES = 472
PARAGRAPH = tts_bench.PARAGRAPH
VOICE = tts_bench.MODEL
DEFAULT_PLUGIN_DIR = ROOT / "target/release"
TIMEOUT = 1800.0
KINDS = ("video", "python", "tts", "seek", "paragraph")
VARIANTS = {
    "default": "faceexpression",
    "full": "faceexpression detection-mode=full",
    "threads1": "faceexpression threads=1",
    "threads2": "faceexpression threads=2",
    "identity": "identity",
}
PYTHON_THREADS = (1, 2)
TTS_INSTANCES = (1, 4)
SEEKS = 3
SEEK_WAIT = 0.2
SHORT_CUE = "Ready."
LONG_CUE = (
    "On the first warm evening of the long summer the whole family walked slowly down the narrow "
    "lane behind the old mill towards the river where the children wanted to watch the boats "
    "coming home while their grandparents told them stories about the floods and the busy market "
    "days that the town had known many years before any of them"
)  # 60 words, no punctuation inside: one sentence, one model run
TARGETS = {
    "fps_scaling": 1.0,
    "rss_per_stream_mb": 10.0,
    "element_over_python": 1.15,
    "tts_rss_ratio": 1.3,
    "paragraph_ratio": 0.85,
}


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# --- workers (one measurement each, JSON on stdout's last line) ----------------------------


def proc_status() -> dict:
    """Peak RSS, RSS and threads of this process, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return {
        "peak_rss_mb": int(fields["VmHWM"]) / 1024,
        "rss_mb": int(fields["VmRSS"]) / 1024,
        "threads": int(fields["Threads"]),
    }


def gst(*factories: str):
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    for name in factories:
        if Gst.ElementFactory.find(name) is None:
            raise SystemExit(f"{name} not found in GST_PLUGIN_PATH={os.environ.get('GST_PLUGIN_PATH')}")
    return Gst


def bus_error(Gst, msg) -> None:
    if msg is None:
        raise SystemExit("worker: timeout")
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        raise SystemExit(f"worker: {err.message} ({debug})")


def worker_video(variant: str, n: int, frames: int) -> dict:
    Gst = gst(*(["faceexpression"] if variant != "identity" else []))
    limit = f" ! identity eos-after={frames}" if frames else ""
    pipeline = Gst.parse_launch(
        "  ".join(
            f"filesrc name=src{i} ! decodebin ! videoconvert{limit} ! {VARIANTS[variant]}"
            f" ! fakesink name=sink{i} sync=false"
            for i in range(n)
        )
    )
    counts = [0] * n

    def counter(i):
        def on_buffer(_pad, _info):
            counts[i] += 1
            return Gst.PadProbeReturn.OK

        return on_buffer

    for i in range(n):
        pipeline.get_by_name(f"src{i}").set_property("location", str(VIDEO))
        pipeline.get_by_name(f"sink{i}").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, counter(i))
    called = time.perf_counter()
    pipeline.set_state(Gst.State.PLAYING)
    t0 = time.perf_counter()
    cpu0 = face_bench.cpu_time()
    msg = pipeline.get_bus().timed_pop_filtered(
        int(TIMEOUT * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    bus_error(Gst, msg)
    wall = time.perf_counter() - t0
    cpu = face_bench.cpu_time() - cpu0
    status = proc_status()  # before NULL: every thread of the running pipelines is still there
    pipeline.set_state(Gst.State.NULL)
    total = sum(counts)
    if min(counts) == 0:
        raise SystemExit(f"video: a stream saw no frame ({counts})")
    return {
        "load_s": t0 - called,
        "frames": total,
        "wall_s": wall,
        "fps": total / wall,
        "cpu_per_frame_ms": cpu / total * 1000,
        **status,
    }


def worker_python(threads: int, frames: int) -> dict:
    """face_bench.worker_python, held at a barrier once its sessions are built."""
    import cv2  # imported before the barrier, like the sessions
    import onnxruntime  # noqa: F401

    build = face_bench.ort_sessions
    kept = []  # sessions and capture outlive worker_python: their threads count at the end

    def gated(*args, **kwargs):
        sessions = build(*args, **kwargs)
        kept.append(sessions)
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("python: no go")
        return sessions

    class KeptCapture(cv2.VideoCapture):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            kept.append(self)

    face_bench.ort_sessions = gated
    cv2.VideoCapture = KeptCapture
    result = face_bench.worker_python("640x360", 1, threads, frames)
    end = time.perf_counter()  # CLOCK_MONOTONIC: comparable between the N processes
    return {**result, "start": end - result["wall_s"], "end": end, **proc_status()}


def srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: Path, cues: list[tuple[float, float, str]]) -> None:
    lines = []
    for k, (start, end, text) in enumerate(cues, 1):
        lines += [str(k), f"{srt_time(start)} --> {srt_time(end)}", text, ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def sentences() -> list[str]:
    text = " ".join(PARAGRAPH.read_text(encoding="utf-8").split())
    return re.findall(r"[^.!?]+[.!?]", text)


def srt_path(k: int, count: int) -> Path:
    return TARGET / f"voice-{k}-{count or 'all'}.srt"


def write_inputs(count: int) -> None:
    """The SRT files of the tts section (one per instance) and of the seek section."""
    TARGET.mkdir(parents=True, exist_ok=True)
    all_sentences = sentences()
    for k in range(max(TTS_INSTANCES)):
        rotated = all_sentences[k:] + all_sentences[:k]
        for n in {count, 1}:  # 1: the warm-up's
            cues, at = [], 0.5
            for text in rotated[: n or None]:
                # About 0.3 s of speech per word with this voice: 0.5 s per word leaves room.
                length = 1.0 + 0.5 * len(text.split())
                cues.append((at, at + length, text.strip()))
                at += length + 0.5
            write_srt(srt_path(k, n), cues)
    write_srt(TARGET / "seek.srt", [(0.0, 1.0, SHORT_CUE), (1.0, 60.0, LONG_CUE)])
    (TARGET / "warmup.txt").write_text("This sentence only warms the voice up.\n", encoding="utf-8")


def audio_bytes_per_second(caps) -> int:
    s = caps.get_structure(0)
    width = {"S16LE": 2, "F32LE": 4}[s.get_string("format")]
    return width * s.get_int("channels")[1] * s.get_int("rate")[1]


def worker_tts(n: int, count: int) -> dict:
    Gst = gst("neuraltts", "subparse")
    pipeline = Gst.parse_launch(
        "  ".join(
            f"filesrc name=src{i} ! subparse ! neuraltts noise-scale=0 noise-w=0"
            f" ! fakesink name=sink{i} sync=false"
            for i in range(n)
        )
    )
    speech = [0] * n

    def counter(i):
        def on_buffer(_pad, info):
            buffer = info.get_buffer()
            if not buffer.has_flags(Gst.BufferFlags.GAP):
                speech[i] += buffer.get_size()
            return Gst.PadProbeReturn.OK

        return on_buffer

    pads = []
    for i in range(n):
        pipeline.get_by_name(f"src{i}").set_property("location", str(srt_path(i, count)))
        pad = pipeline.get_by_name(f"sink{i}").get_static_pad("sink")
        pad.add_probe(Gst.PadProbeType.BUFFER, counter(i))
        pads.append(pad)
    called = time.perf_counter()
    pipeline.set_state(Gst.State.PLAYING)
    t0 = time.perf_counter()
    cpu0 = face_bench.cpu_time()
    bus = pipeline.get_bus()
    spoken = 0
    while True:
        msg = bus.timed_pop_filtered(
            int(TIMEOUT * Gst.SECOND),
            Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT,
        )
        bus_error(Gst, msg)
        if msg.type == Gst.MessageType.ELEMENT:
            spoken += msg.get_structure().get_name() == "neuraltts-sentence"
            continue
        break
    wall = time.perf_counter() - t0
    cpu = face_bench.cpu_time() - cpu0
    status = proc_status()
    audio = sum(b / audio_bytes_per_second(p.get_current_caps()) for b, p in zip(speech, pads))
    pipeline.set_state(Gst.State.NULL)
    return {
        "load_s": t0 - called,
        "wall_s": wall,
        "speech_s": audio,
        "sentences": spoken,
        "rtf": wall / audio,
        "cpu_rtf": cpu / audio,
        **status,
    }


def worker_seek(seeks: int) -> dict:
    Gst = gst("neuraltts", "subparse")
    pipeline = Gst.parse_launch("filesrc name=src ! subparse ! neuraltts ! fakesink sync=false")
    pipeline.get_by_name("src").set_property("location", str(TARGET / "seek.srt"))
    bus = pipeline.get_bus()
    long_key = LONG_CUE.split()[0:4]

    def long_spoken(msg) -> bool:
        s = msg.get_structure()
        return s is not None and s.get_name() == "neuraltts-sentence" and s.get_string("text").split()[0:4] == long_key

    def drain_bus() -> bool:
        """Pops what the bus holds; True if the long sentence was spoken meanwhile."""
        said = False
        while (msg := bus.pop()) is not None:
            if msg.type == Gst.MessageType.ERROR:
                bus_error(Gst, msg)
            said |= msg.type == Gst.MessageType.ELEMENT and long_spoken(msg)
        return said

    pipeline.set_state(Gst.State.PLAYING)
    rounds = []
    for _ in range(seeks):
        ret, state, _pending = pipeline.get_state(int(TIMEOUT * Gst.SECOND))
        if ret != Gst.StateChangeReturn.SUCCESS or state != Gst.State.PLAYING:
            raise SystemExit(f"seek: not PLAYING ({ret}, {state})")
        time.sleep(SEEK_WAIT)
        under_way = not drain_bus()
        t0 = time.perf_counter()
        if not pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0):
            raise SystemExit("seek: refused")
        t1 = time.perf_counter()
        msg = bus.timed_pop_filtered(int(TIMEOUT * Gst.SECOND), Gst.MessageType.ASYNC_DONE | Gst.MessageType.ERROR)
        bus_error(Gst, msg)
        t2 = time.perf_counter()
        rounds.append({"seek_s": t1 - t0, "async_done_s": t2 - t0, "under_way": under_way})
    # The long sentence's synthesis alone, for scale: from the last ASYNC_DONE to its message.
    t2 = time.perf_counter()
    while True:
        msg = bus.timed_pop_filtered(
            int(TIMEOUT * Gst.SECOND), Gst.MessageType.ELEMENT | Gst.MessageType.ERROR | Gst.MessageType.EOS
        )
        bus_error(Gst, msg)
        if msg.type == Gst.MessageType.EOS:
            raise SystemExit("seek: EOS before the long sentence was spoken")
        if long_spoken(msg):
            break
    synth = time.perf_counter() - t2
    pipeline.set_state(Gst.State.NULL)
    return {"seeks": rounds, "long_synthesis_s": synth}


WORKERS = ("video", "python", "tts", "seek")


# --- driver -------------------------------------------------------------------------------


class Runner:
    def __init__(self, plugin_dir: Path, face_python: Path, tts_python: Path | None) -> None:
        self.plugin_dir = plugin_dir
        self.face_python = face_python
        self.tts_python = tts_python
        key = hashlib.sha1(str(plugin_dir).encode()).hexdigest()[:12]
        self.env = dict(
            os.environ,
            GST_PLUGIN_PATH=str(plugin_dir),
            # A registry of our own: other GStreamer processes on the machine (with other plugin
            # paths) then cannot make our workers rescan.
            GST_REGISTRY=str(TARGET / f"registry-{key}.bin"),
        )

    def worker_args(self, python: Path, *args: str) -> list[str]:
        return [str(python), str(Path(__file__).resolve()), *args]

    def run(self, python: Path, *args: str) -> dict:
        out = subprocess.run(
            self.worker_args(python, *args),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
        )
        if out.returncode != 0:
            raise SystemExit(f"bench: worker {' '.join(args)} failed:\n{out.stderr}")
        return json.loads(out.stdout.splitlines()[-1])

    def video(self, variant: str, n: int, frames: int) -> dict:
        return self.run(self.face_python, "--worker", "video", "--variant", variant, "--n", str(n), "--frames", str(frames))

    def python(self, threads: int, n: int, frames: int) -> dict:
        """N processes: start, wait until all built their sessions, let them go together."""
        procs = []
        with tempfile.TemporaryDirectory(dir=TARGET) as tmp:
            for i in range(n):
                err = open(Path(tmp) / f"stderr-{i}", "w+")
                proc = subprocess.Popen(
                    self.worker_args(
                        self.face_python, "--worker", "python", "--threads", str(threads), "--frames", str(frames)
                    ),
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
                procs.append((proc, err))

            def fail(what: str):
                for p, _ in procs:
                    p.kill()
                texts = []
                for _, e in procs:
                    e.seek(0)
                    texts.append(e.read())
                raise SystemExit(f"bench: python workers {what}:\n" + "\n".join(texts))

            for proc, _ in procs:
                if proc.stdout.readline().strip() != "ready":
                    fail("did not get ready")
            go = time.perf_counter()
            for proc, _ in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            runs = []
            for proc, _ in procs:
                out, _ = proc.communicate(timeout=TIMEOUT * 2)
                if proc.returncode != 0:
                    fail(f"failed ({proc.returncode})")
                runs.append(json.loads(out.splitlines()[-1]))
            done = time.perf_counter()
            for _, e in procs:
                e.close()
        frames_total = sum(r["frames"] for r in runs)
        wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
        return {
            "frames": frames_total,
            "wall_s": wall,
            "fps": frames_total / wall,
            "go_to_exit_s": done - go,
            "peak_rss_mb": sum(r["peak_rss_mb"] for r in runs),
            "threads": sum(r["threads"] for r in runs),
            "processes": runs,
        }

    def tts(self, n: int, count: int) -> dict:
        return self.run(self.tts_python, "--worker", "tts", "--n", str(n), "--sentences", str(count))

    def seek(self, seeks: int) -> dict:
        return self.run(self.tts_python, "--worker", "seek", "--seeks", str(seeks))

    def process(self, argv: list[str]) -> dict:
        """Whole-process wall time, CPU time and peak RSS of one command (os.wait4)."""
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode != 0:
            raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}):\n{err}")
        return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}

    def paragraph_element(self, text: Path) -> dict:
        return self.process(["gst-launch-1.0", "-q", "neuralttssrc", f"location={text}", "!", "fakesink"])

    def paragraph_piper(self, text: Path) -> dict:
        wav = TARGET / f"piper-{text.stem}.wav"
        return self.process(
            [str(self.tts_python), "-m", "piper", "--model", str(VOICE), "--input-file", str(text),
             "--output-file", str(wav)]
        )


def plan(kinds: list[str], streams: list[int], frames: int, count: int) -> list[tuple[tuple, object]]:
    """One round: (key, call) pairs, kinds interleaved."""
    steps: list[tuple[tuple, object]] = []
    for n in streams:
        if "video" in kinds:
            for variant in VARIANTS:
                steps.append((("video", variant, n), lambda r, v=variant, n=n: r.video(v, n, frames)))
        if "python" in kinds:
            for t in PYTHON_THREADS:
                steps.append((("python", t, n), lambda r, t=t, n=n: r.python(t, n, frames)))
    if "tts" in kinds:
        for n in TTS_INSTANCES:
            steps.append((("tts", n), lambda r, n=n: r.tts(n, count)))
    if "seek" in kinds:
        steps.append((("seek",), lambda r: r.seek(SEEKS)))
    if "paragraph" in kinds:
        steps.append((("paragraph", "element"), lambda r: r.paragraph_element(PARAGRAPH)))
        steps.append((("paragraph", "piper"), lambda r: r.paragraph_piper(PARAGRAPH)))
    return steps


def warm_up(runner: Runner, kinds: list[str]) -> None:
    """One short run of every kind, discarded: page cache, registry, first loads alike."""
    if "video" in kinds:
        for variant in VARIANTS:
            runner.video(variant, 1, 30)
    if "python" in kinds:
        for t in PYTHON_THREADS:
            runner.python(t, 1, 30)
    if "tts" in kinds or "seek" in kinds:
        runner.tts(1, 1)
    if "paragraph" in kinds:
        runner.paragraph_element(TARGET / "warmup.txt")
        runner.paragraph_piper(TARGET / "warmup.txt")


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt).strip()}-{format(max(values), fmt).strip()})"


def report(results: dict, kinds: list[str], streams: list[int], args) -> dict:
    def runs(*key) -> list[dict]:
        return results.get(tuple(key), [])

    def med(key: tuple, field: str) -> float:
        return statistics.median(r[field] for r in results[key])

    summary: dict = {}
    frames = args.frames or VIDEO_FRAMES
    if "video" in kinds or "python" in kinds:
        print(f"\n{VIDEO.name}, {frames} frames per stream, N streams in one process, median of {args.repeats} rounds (min-max)")
    if "video" in kinds:
        print(
            f"{'variant':9} {'N':>2} {'fps':>22} {'fps/fps(1)':>10} {'peak RSS MB':>11} {'MB/stream':>9}"
            f" {'beyond id.':>10} {'threads':>7} {'ms CPU/f':>8}"
        )
        video: dict = {}
        for variant in VARIANTS:
            for n in streams:
                key = ("video", variant, n)
                fps = [r["fps"] for r in runs(*key)]
                scaling = med(key, "fps") / med(("video", variant, streams[0]), "fps") if streams[0] == 1 else None
                rss = med(key, "peak_rss_mb")
                per_stream = beyond = None
                if n > 1 and streams[0] == 1:
                    per_stream = (rss - med(("video", variant, 1), "peak_rss_mb")) / (n - 1)
                    base = (med(("video", "identity", n), "peak_rss_mb") - med(("video", "identity", 1), "peak_rss_mb")) / (n - 1)
                    beyond = per_stream - base
                threads = med(key, "threads")
                marks = ""
                if variant == "default" and n > 1 and scaling is not None:
                    marks = (
                        f" fps {verdict(scaling >= TARGETS['fps_scaling'])},"
                        f" RSS {verdict(beyond <= TARGETS['rss_per_stream_mb'])}"
                    )
                print(
                    f"{variant:9} {n:2d} {spread(fps, '7.1f'):>22} "
                    f"{'-' if scaling is None else format(scaling, '.2f'):>10} {rss:11.0f}"
                    f" {'-' if per_stream is None else format(per_stream, '.1f'):>9}"
                    f" {'-' if beyond is None or variant == 'identity' else format(beyond, '+.1f'):>10}"
                    f" {threads:7.0f} {med(key, 'cpu_per_frame_ms'):8.1f}{marks}"
                )
                video[f"{variant} {n}"] = {
                    "fps": med(key, "fps"), "fps_over_fps1": scaling, "peak_rss_mb": rss,
                    "rss_per_added_stream_mb": per_stream, "rss_per_added_stream_beyond_identity_mb": beyond,
                    "threads": threads,
                }
        print(
            "(fps: frames at all N sinks / wall time; MB/stream: (RSS(N) - RSS(1)) / (N - 1); beyond id.: the\n"
            " same minus what the identity pipelines add per stream; threads: of the process at EOS.\n"
            f" Targets, default: fps(N)/fps(1) >= {TARGETS['fps_scaling']}, beyond id. <= {TARGETS['rss_per_stream_mb']:.0f} MB.)"
        )
        summary["video"] = video
    if "python" in kinds:
        print(
            f"\npython reference (face_bench.py worker_python), N processes at once, vs the element (default):\n"
            f"{'N':>2} {'py t=1 fps':>20} {'py t=2 fps':>20} {'best':>5} {'sum RSS MB':>10} {'threads':>7}"
            f" {'element fps':>11} {'el RSS MB':>9} {'el/py':>6}"
        )
        python: dict = {}
        for n in streams:
            fps = {t: [r["fps"] for r in runs("python", t, n)] for t in PYTHON_THREADS}
            best = max(PYTHON_THREADS, key=lambda t: statistics.median(fps[t]))
            key = ("python", best, n)
            el_key = ("video", "default", n)
            el = med(el_key, "fps") if el_key in results else None
            ratio = el / statistics.median(fps[best]) if el else None
            mark = ""
            if n == 4 and ratio is not None:
                mark = f"  target >= {TARGETS['element_over_python']} {verdict(ratio >= TARGETS['element_over_python'])}"
            print(
                f"{n:2d} {spread(fps[1], '6.1f'):>20} {spread(fps[2], '6.1f'):>20} {'t=' + str(best):>5}"
                f" {med(key, 'peak_rss_mb'):10.0f} {med(key, 'threads'):7.0f}"
                f" {'-' if el is None else format(el, '.1f'):>11}"
                f" {'-' if el is None else format(med(el_key, 'peak_rss_mb'), '.0f'):>9}"
                f" {'-' if ratio is None else format(ratio, '.2f'):>6}{mark}"
            )
            python[str(n)] = {
                "fps_threads1": statistics.median(fps[1]), "fps_threads2": statistics.median(fps[2]),
                "best_threads": best, "peak_rss_mb_sum": med(key, "peak_rss_mb"),
                "threads_sum": med(key, "threads"), "element_over_python": ratio,
            }
        print(
            "(py fps: N * frames / (last loop end - first loop start), sessions built before a common start;\n"
            " sum RSS, threads: of the faster setting's N processes; el/py: element default fps / best python fps.)"
        )
        summary["python"] = python
    if "tts" in kinds:
        count = args.sentences or len(sentences())
        print(
            f"\nneuraltts noise-scale=0 noise-w=0, {count} cues per SRT file, same voice ({VOICE.name}),"
            f" median of {args.repeats} rounds (min-max)"
        )
        print(f"{'instances':9} {'wall s':>18} {'speech s':>8} {'RTF':>22} {'CPU RTF':>7} {'peak RSS MB':>11} {'threads':>7} {'sentences':>9}")
        for n in TTS_INSTANCES:
            key = ("tts", n)
            print(
                f"{n:9d} {spread([r['wall_s'] for r in runs(*key)], '6.2f'):>18} {med(key, 'speech_s'):8.1f}"
                f" {spread([r['rtf'] for r in runs(*key)], '.3f'):>22} {med(key, 'cpu_rtf'):7.3f}"
                f" {med(key, 'peak_rss_mb'):11.0f} {med(key, 'threads'):7.0f} {med(key, 'sentences'):9.0f}"
            )
        rss_ratio = med(("tts", 4), "peak_rss_mb") / med(("tts", 1), "peak_rss_mb")
        print(
            f"peak RSS, 4 instances / 1: {rss_ratio:.2f}   target <= {TARGETS['tts_rss_ratio']}"
            f" {verdict(rss_ratio <= TARGETS['tts_rss_ratio'])}\n"
            "(RTF: wall time from set_state(PLAYING) to EOS / seconds of speech (non-GAP) at all sinks.)"
        )
        summary["tts"] = {
            "rss_4_over_1": rss_ratio,
            **{f"rtf_{n}": med(("tts", n), "rtf") for n in TTS_INSTANCES},
            **{f"peak_rss_mb_{n}": med(("tts", n), "peak_rss_mb") for n in TTS_INSTANCES},
        }
    if "seek" in kinds:
        seeks = [s for r in runs("seek") for s in r["seeks"]]
        seek_ms = [s["seek_s"] * 1000 for s in seeks]
        done_ms = [s["async_done_s"] * 1000 for s in seeks]
        synth = [r["long_synthesis_s"] * 1000 for r in runs("seek")]
        under_way = sum(s["under_way"] for s in seeks)
        print(
            f"\nflushing seek during the synthesis of a {len(LONG_CUE.split())}-word cue (neuraltts, plugins from"
            f" {args.plugin_dir}), {len(seeks)} seeks, median (min-max), ms:"
        )
        print(f"  seek_simple(FLUSH) returns      {spread(seek_ms, '6.0f')}")
        print(f"  ... and the next ASYNC_DONE     {spread(done_ms, '6.0f')}")
        print(f"  the long cue's synthesis alone  {spread(synth, '6.0f')}")
        print(
            f"  (synthesis under way at the seek in {under_way} of {len(seeks)} seeks; ASYNC_DONE includes"
            f" synthesising the one-word first cue again; no target: compare with a build before the engine)"
        )
        summary["seek"] = {
            "seek_ms": statistics.median(seek_ms), "async_done_ms": statistics.median(done_ms),
            "long_synthesis_ms": statistics.median(synth), "under_way": under_way, "seeks": len(seeks),
        }
    if "paragraph" in kinds:
        print(f"\n{PARAGRAPH.relative_to(ROOT)}, whole process, median of {args.repeats} rounds (min-max)")
        print(f"{'':44} {'wall s':>18} {'CPU s':>7} {'peak RSS MB':>11}")
        for side, label in (("element", "gst-launch-1.0 neuralttssrc ! fakesink"), ("piper", "python -m piper (piper-tts 1.8.0)")):
            key = ("paragraph", side)
            print(
                f"{label:44} {spread([r['wall_s'] for r in runs(*key)], '6.2f'):>18} {med(key, 'cpu_s'):7.2f}"
                f" {med(key, 'peak_rss_mb'):11.0f}"
            )
        ratio = med(("paragraph", "element"), "wall_s") / med(("paragraph", "piper"), "wall_s")
        best = min(r["wall_s"] for r in runs("paragraph", "element")) / min(r["wall_s"] for r in runs("paragraph", "piper"))
        print(
            f"element / piper, wall: {ratio:.2f} (fastest runs: {best:.2f})   target <= {TARGETS['paragraph_ratio']}"
            f" {verdict(ratio <= TARGETS['paragraph_ratio'])}"
        )
        summary["paragraph"] = {"element_over_piper": ratio, "element_over_piper_fastest": best}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description="many streams in one process: faceexpression, neuraltts")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--streams", default="1,2,4,8", help="numbers of video streams (comma-separated)")
    parser.add_argument("--frames", type=int, default=0, help=f"frames per video stream (0: all {VIDEO_FRAMES})")
    parser.add_argument("--sentences", type=int, default=0, help="cues per SRT file in the tts section (0: all)")
    parser.add_argument("--only", action="append", choices=KINDS, help="run only this section (repeatable)")
    parser.add_argument("--plugin-dir", type=Path, default=DEFAULT_PLUGIN_DIR, help="where the plugins are loaded from")
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build")
    parser.add_argument("--json", type=Path, help="also write all measurements here")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seeks", type=int, default=SEEKS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = {
            "video": lambda: worker_video(args.variant, args.n, args.frames),
            "python": lambda: worker_python(args.threads, args.frames),
            "tts": lambda: worker_tts(args.n, args.sentences),
            "seek": lambda: worker_seek(args.seeks),
        }[args.worker]()
        print(json.dumps(result))
        return 0

    kinds = [k for k in KINDS if k in (args.only or KINDS)]
    streams = sorted({int(s) for s in args.streams.split(",")})
    args.plugin_dir = args.plugin_dir.resolve()
    for path in (VIDEO, face_bench.DETECTOR, face_bench.CLASSIFIER, face_bench.DESCRIPTOR, VOICE, PARAGRAPH):
        if not path.exists():
            raise SystemExit(f"bench: {path} is missing (run scripts/setup.sh)")
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "-q", "--release", "--locked", "-p", "gst-plugin-faceexpr", "-p", "gst-plugin-neuraltts"],
            cwd=ROOT,
            check=True,
        )
    write_inputs(args.sentences)
    face_python = face_bench.ensure_venv() if {"video", "python"} & set(kinds) else None
    tts_python = tts_bench.ensure_venv() if {"tts", "seek", "paragraph"} & set(kinds) else None
    runner = Runner(args.plugin_dir, face_python, tts_python)
    print(f"bench: plugins from {args.plugin_dir}; warming up", file=sys.stderr)
    warm_up(runner, kinds)
    steps = plan(kinds, streams, args.frames, args.sentences)
    results: dict = {key: [] for key, _ in steps}
    for round_ in range(args.repeats):
        for key, call in steps if round_ % 2 == 0 else reversed(steps):
            results[key].append(call(runner))
        print(f"bench: round {round_ + 1}/{args.repeats} done", file=sys.stderr)
    summary = report(results, kinds, streams, args)
    if args.json:
        out = {
            "plugin_dir": str(args.plugin_dir),
            "streams": streams,
            "frames": args.frames or VIDEO_FRAMES,
            "keys": "video VARIANT N | python THREADS N | tts N | seek | paragraph element|piper",
            "runs": {" ".join(map(str, k)): v for k, v in results.items()},
            "summary": summary,
        }
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
