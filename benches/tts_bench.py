#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Speed of `neuralttssrc` against bare ONNX Runtime and the Python reference, piper-tts.

Run from anywhere, after scripts/setup.sh (data/, Debian's GStreamer, python3-gi, espeak-ng):

    python3 benches/tts_bench.py                 # 5 repeats, 2 intra-op threads
    python3 benches/tts_bench.py --repeats 9 --threads 4 --json out.json
    python3 benches/tts_bench.py --marks-only --repeats 9   # only the cost of speech marks

In one run it builds the plugin (`cargo build -p gst-plugin-neuraltts`, skip with --no-build),
creates benches/.venv on first use (Debian's python3 with system site packages, so that
python3-gi is importable; pins in benches/requirements-bench.txt: onnxruntime 1.32.0, the
library the element loads too, and piper-tts 1.8.0), then measures, on the fixed paragraph
benches/paragraph.txt (11 sentences) and with the voice data/models/tts/en_US-joe-medium.onnx:

  element  `neuralttssrc location=benches/paragraph.txt threads=N sentence-silence=0 !
           fakesink sync=false`, through python3-gi. Time to first audio (TTFA): from the return
           of set_state(PLAYING) (the voice is loaded in READY->PAUSED, inside that call) to the
           first buffer at the sink's pad; RTF: wall time to EOS / seconds of audio at the sink.
  ort      bare ONNX Runtime (Python onnxruntime, same .onnx, intra_op_num_threads=N): one run
           per sentence on the phoneme ids of our front end, precomputed (so not timed) by
           scripts/tts_ids_oracle.py, the Python re-implementation of it that
           tests/tts_frontend.rs checks the Rust front end against. TTFA: the first run.
  piper    piper-tts 1.8.0's PiperVoice on a session built with intra_op_num_threads=N (piper
           itself would use ONNX Runtime's default, one thread per core). TTFA: from the call of
           synthesize(paragraph) to its first AudioChunk (piper phonemizes the whole text first).
  element-ssml  the same through `neuralttssrc text-format=ssml`, the paragraph as one SSML
           document (each sentence an <s> after a <mark>): the same audio, plus SSML parsing.
  ssml-parse    `cargo bench --bench ssml_parse --profile dev` (benches/ssml_parse.rs): the
           median time of parsing that document (ssml::parse), of planning it (ssml::plan,
           espeak-ng included) and of the plain-text front end on the paragraph, once per run.
  push     time to first audio of one pushed sentence whose first clause is short ("Yes, ...")
           on a warmed-up voice: `neuralttssrc is-live=true` in PLAYING, from emitting
           push-text to the first non-GAP buffer at the sink, with chunking=sentence and
           chunking=clause; for piper, from synthesize(sentence) to its first chunk; and, as a
           lower bound for clause streaming, one bare ORT run on the first clause's ids.

Noise is the voice's default everywhere (noise_scale 0.667, noise_w 0.8, length_scale 1), so
audio lengths vary a little run to run: RTF, not wall time, is compared. The paragraph runs are
cold (a fresh session, as a user's first sentence is); the pushed sentence follows a warm-up
sentence. Every measurement runs in its own process (`--worker`), rounds interleave the kinds
(so background load hits all of them alike) and the medians over --repeats rounds are reported,
with these ratios and targets:

  element overhead over bare ORT   element RTF / ort RTF - 1              target <= 5%
  cost of speech marks             element RTF with word + viseme marks /
                                   element RTF, packaged voice, no marks - 1  target <= 2%
  element RTF / piper RTF                                                 target <= 1
  pushed-sentence TTFA, element chunking=clause / piper                   target <= 0.6
  SSML parsing / element synthesis time (both for the paragraph)         target <= 2%
"""

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benches"
VENV = BENCH / ".venv"
REQUIREMENTS = BENCH / "requirements-bench.txt"
PARAGRAPH = BENCH / "paragraph.txt"
MODEL = ROOT / "data/models/tts/en_US-joe-medium.onnx"
CONFIG = ROOT / "data/models/tts/en_US-joe-medium.onnx.json"
PLUGIN_DIR = ROOT / "target/debug"

WARMUP = "This sentence only warms the voice up."
PUSHED = (
    "Yes, I will gladly take the early train to the coast tomorrow morning and meet you at "
    "the old harbour before the fishing boats come back in."
)
TIMEOUT = 300.0


# --- workers (run inside benches/.venv, one measurement each, JSON on stdout) ---------------


def cpu_time() -> float:
    """CPU seconds (user + system) of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def voice_config() -> dict:
    return json.loads(CONFIG.read_text(encoding="utf-8"))


def ort_session(threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(
        str(MODEL), sess_options=options, providers=["CPUExecutionProvider"]
    )


def gst_pipeline(description: str):
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    if Gst.ElementFactory.find("neuralttssrc") is None:
        raise SystemExit(f"neuralttssrc not found in {PLUGIN_DIR}: cargo build -p gst-plugin-neuraltts")
    return Gst, Gst.parse_launch(description)


class SinkProbe:
    """Arrival times and sizes of the non-GAP buffers at a sink pad."""

    def __init__(self, Gst, pad) -> None:
        self.Gst = Gst
        self.arrivals: list[float] = []
        self.bytes = 0
        self.speaking = False
        self.spoken = threading.Event()
        pad.add_probe(Gst.PadProbeType.BUFFER, self._on_buffer)

    def _on_buffer(self, _pad, info):
        now = time.perf_counter()
        buffer = info.get_buffer()
        if buffer.has_flags(self.Gst.BufferFlags.GAP) or buffer.get_size() == 0:
            if self.speaking:
                self.speaking = False
                self.spoken.set()
        else:
            self.arrivals.append(now)
            self.bytes += buffer.get_size()
            self.speaking = True
        return self.Gst.PadProbeReturn.OK


def worker_element(threads: int, extra: str = "", ssml: bool = False) -> dict:
    Gst, pipeline = gst_pipeline(
        f"neuralttssrc name=src threads={threads} sentence-silence=0 {extra} "
        "! fakesink name=sink sync=false"
    )
    src = pipeline.get_by_name("src")
    if ssml:
        src.set_property("text-format", "ssml")
        src.set_property("text", ssml_document())
    else:
        src.set_property("location", str(PARAGRAPH))
    pad = pipeline.get_by_name("sink").get_static_pad("sink")
    probe = SinkProbe(Gst, pad)
    called = time.perf_counter()
    pipeline.set_state(Gst.State.PLAYING)
    t0 = time.perf_counter()
    cpu0 = cpu_time()
    bus = pipeline.get_bus()
    chunks = 0
    marks = 0
    while True:
        msg = bus.timed_pop_filtered(
            int(TIMEOUT * Gst.SECOND),
            Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT,
        )
        if msg is None:
            raise SystemExit("element: timeout")
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            raise SystemExit(f"element: {err.message} ({debug})")
        if msg.type == Gst.MessageType.ELEMENT:
            name = msg.get_structure().get_name()
            chunks += name == "neuraltts-sentence"
            marks += name in ("neuraltts-word", "neuraltts-viseme")
            continue
        break
    end = time.perf_counter()
    cpu = cpu_time() - cpu0
    caps = pad.get_current_caps().get_structure(0)
    rate = caps.get_int("rate")[1]
    pipeline.set_state(Gst.State.NULL)
    if caps.get_string("format") != "S16LE" or not probe.arrivals:
        raise SystemExit(f"element: unexpected output {caps.to_string()}")
    audio = probe.bytes / 2 / rate
    return {
        "load_s": t0 - called,
        "ttfa_s": probe.arrivals[0] - t0,
        "synth_s": end - t0,
        "audio_s": audio,
        "rtf": (end - t0) / audio,
        "cpu_rtf": cpu / audio,
        "chunks": chunks,
        "marks": marks,
    }


def ssml_document() -> str:
    """The paragraph as one SSML document: each sentence an <s> after a <mark> (as
    benches/ssml_parse.rs builds it)."""
    paragraph = PARAGRAPH.read_text(encoding="utf-8").strip()
    body = "".join(
        f'<mark name="s{i}"/><s>{sentence.replace("&", "&amp;").replace("<", "&lt;")}</s> '
        for i, sentence in enumerate(re.split(r"(?<=\.) ", paragraph))
    )
    return f"<speak><p>{body}</p></speak>"


def worker_element_ssml(threads: int) -> dict:
    """worker_element on the SSML document (text-format=ssml)."""
    return worker_element(threads, ssml=True)


def worker_element_push(threads: int, chunking: str) -> dict:
    Gst, pipeline = gst_pipeline(
        f"neuralttssrc name=src is-live=true threads={threads} ! fakesink name=sink sync=false"
    )
    src = pipeline.get_by_name("src")
    Gst.util_set_object_arg(src, "chunking", chunking)
    probe = SinkProbe(Gst, pipeline.get_by_name("sink").get_static_pad("sink"))
    pipeline.set_state(Gst.State.PLAYING)
    if pipeline.get_state(int(TIMEOUT * Gst.SECOND))[0] != Gst.StateChangeReturn.SUCCESS:
        raise SystemExit("element-push: cannot reach PLAYING")

    def speak(text: str) -> float:
        probe.spoken.clear()
        before = len(probe.arrivals)
        pushed = time.perf_counter()
        if not src.emit("push-text", text):
            raise SystemExit("element-push: push-text refused")
        if not probe.spoken.wait(TIMEOUT):
            raise SystemExit("element-push: timeout")
        return probe.arrivals[before] - pushed

    speak(WARMUP)
    ttfa = speak(PUSHED)
    pipeline.set_state(Gst.State.NULL)
    return {"ttfa_s": ttfa}


def oracle_ids() -> list[list[int]]:
    """Ids per sentence of the paragraph, by scripts/tts_ids_oracle.py over Debian's espeak-ng."""
    spec = importlib.util.spec_from_file_location("tts_ids_oracle", ROOT / "scripts/tts_ids_oracle.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    config = voice_config()
    espeak = oracle.Espeak()
    text = PARAGRAPH.read_text(encoding="utf-8")
    sentences = oracle.piper_phonemize(espeak, config["espeak"]["voice"], text)
    return [oracle.phonemes_to_ids(p, config["phoneme_id_map"])[0] for p in sentences]


def worker_ort(threads: int) -> dict:
    import numpy as np

    config = voice_config()
    inference = config["inference"]
    scales = np.array(
        [inference["noise_scale"], inference["length_scale"], inference["noise_w"]], np.float32
    )
    rate = config["audio"]["sample_rate"]
    ids = oracle_ids()
    session = ort_session(threads)
    t0 = time.perf_counter()
    cpu0 = cpu_time()
    first = None
    samples = 0
    for sentence in ids:
        x = np.array([sentence], np.int64)
        audio = session.run(
            None, {"input": x, "input_lengths": np.array([x.shape[1]], np.int64), "scales": scales}
        )[0]
        samples += audio.size
        first = first or time.perf_counter()
    end = time.perf_counter()
    cpu = cpu_time() - cpu0
    audio_s = samples / rate
    return {
        "ttfa_s": first - t0,
        "synth_s": end - t0,
        "audio_s": audio_s,
        "rtf": (end - t0) / audio_s,
        "cpu_rtf": cpu / audio_s,
        "chunks": len(ids),
    }


def worker_ort_first_clause(threads: int) -> dict:
    """Lower bound for clause streaming: one warm ORT run on the pushed sentence's first clause."""
    import numpy as np

    spec = importlib.util.spec_from_file_location("tts_ids_oracle", ROOT / "scripts/tts_ids_oracle.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    config = voice_config()
    inference = config["inference"]
    scales = np.array(
        [inference["noise_scale"], inference["length_scale"], inference["noise_w"]], np.float32
    )
    clause = PUSHED.split(",")[0] + ","
    phonemes = oracle.piper_phonemize(oracle.Espeak(), config["espeak"]["voice"], clause)
    ids = np.array([oracle.phonemes_to_ids(phonemes[0], config["phoneme_id_map"])[0]], np.int64)
    session = ort_session(threads)

    def run(x):
        session.run(None, {"input": x, "input_lengths": np.array([x.shape[1]], np.int64), "scales": scales})

    for sentence in oracle_ids()[:1]:  # warm-up, as the pushed-sentence runs have
        run(np.array([sentence], np.int64))
    t0 = time.perf_counter()
    run(ids)
    return {"ttfa_s": time.perf_counter() - t0}


def piper_voice(threads: int):
    from piper import PiperVoice
    from piper.config import PiperConfig

    return PiperVoice(session=ort_session(threads), config=PiperConfig.from_dict(voice_config()))


def worker_piper(threads: int) -> dict:
    voice = piper_voice(threads)
    text = PARAGRAPH.read_text(encoding="utf-8")
    t0 = time.perf_counter()
    cpu0 = cpu_time()
    first = None
    samples = 0
    chunks = 0
    rate = 0
    for chunk in voice.synthesize(text):
        first = first or time.perf_counter()
        samples += chunk.audio_float_array.size
        rate = chunk.sample_rate
        chunks += 1
    end = time.perf_counter()
    cpu = cpu_time() - cpu0
    audio_s = samples / rate
    return {
        "ttfa_s": first - t0,
        "synth_s": end - t0,
        "audio_s": audio_s,
        "rtf": (end - t0) / audio_s,
        "cpu_rtf": cpu / audio_s,
        "chunks": chunks,
    }


def worker_piper_push(threads: int) -> dict:
    voice = piper_voice(threads)
    for _ in voice.synthesize(WARMUP):
        pass
    t0 = time.perf_counter()
    chunks = voice.synthesize(PUSHED)
    next(iter(chunks))
    return {"ttfa_s": time.perf_counter() - t0}


# Speech marks: the voice as packaged (no durations output) with sentence messages only, against
# the default voice (durations) with word and viseme marks too.
NO_MARKS = f"model={MODEL} speech-marks=sentence"
ALL_MARKS = "speech-marks=sentence+word+viseme"

WORKERS = {
    "element": lambda t: worker_element(t),
    "element-no-marks": lambda t: worker_element(t, NO_MARKS),
    "element-marks": lambda t: worker_element(t, ALL_MARKS),
    "ort": lambda t: worker_ort(t),
    "piper": lambda t: worker_piper(t),
    "element-ssml": lambda t: worker_element_ssml(t),
    "push-element-sentence": lambda t: worker_element_push(t, "sentence"),
    "push-element-clause": lambda t: worker_element_push(t, "clause"),
    "push-piper": lambda t: worker_piper_push(t),
    "push-ort-first-clause": lambda t: worker_ort_first_clause(t),
}


# --- driver -------------------------------------------------------------------------------


def ensure_venv() -> Path:
    python = VENV / "bin/python"
    stamp = VENV / ".requirements"
    if python.exists() and stamp.exists() and stamp.read_bytes() == REQUIREMENTS.read_bytes():
        return python
    print(f"bench: creating {VENV.relative_to(ROOT)}", file=sys.stderr)
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    shutil.copyfile(REQUIREMENTS, stamp)
    return python


def run_worker(python: Path, kind: str, threads: int) -> dict:
    env = dict(os.environ, GST_PLUGIN_PATH=str(PLUGIN_DIR))
    out = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--worker", kind, "--threads", str(threads)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: worker {kind} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def ssml_parse_cost() -> dict:
    """benches/ssml_parse.rs: medians of parse, plan and plain front end, in seconds."""
    out = subprocess.run(
        ["cargo", "bench", "-q", "--locked", "--bench", "ssml_parse", "--profile", "dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 4,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: ssml_parse failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ssml_report(results: dict[str, list[dict]], parse: dict) -> dict:
    """SSML parsing cost against the element's synthesis of the same paragraph."""
    plain, ssml = results["element"], results["element-ssml"]
    synth = median(plain, "synth_s")
    audio = median(plain, "audio_s")
    share = parse["parse_s"] / synth
    plan_extra = max(0.0, parse["plan_s"] - parse["front_s"]) / synth
    e2e = median(ssml, "rtf") / median(plain, "rtf") - 1
    e2e_cpu = median(ssml, "cpu_rtf") / median(plain, "cpu_rtf") - 1
    print(f"\nSSML ({parse['bytes']} bytes: the paragraph, an <s> and a <mark> per sentence)")
    print(
        f"parse {parse['parse_s'] * 1e6:.1f} us, plan {parse['plan_s'] * 1e3:.2f} ms "
        f"(plain front end {parse['front_s'] * 1e3:.2f} ms), for {audio:.1f} s of audio "
        f"synthesised in {synth:.2f} s"
    )
    rtf = [r["rtf"] for r in ssml]
    print(
        f"{'neuralttssrc text-format=ssml':32} RTF {statistics.median(rtf):.4f} "
        f"({min(rtf):.4f}-{max(rtf):.4f}), CPU {median(ssml, 'cpu_rtf'):.4f}, "
        f"audio {median(ssml, 'audio_s'):.1f} s"
    )
    print(
        f"{'parsing / synthesis time':32} {share:+.5%}   (plan beyond the plain front end "
        f"{plan_extra:+.5%})   target <= 2% {'ok' if share + plan_extra <= 0.02 else 'MISSED'}"
    )
    print(
        f"{'SSML element RTF / plain - 1':32} {e2e:+.2%} (CPU {e2e_cpu:+.2%}; run-to-run noise, "
        "not a cost: the audio is the same)"
    )
    return {"parse_share": share, "plan_extra_share": plan_extra, "element_ssml_over_plain": e2e}


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report_marks(results: dict[str, list[dict]]) -> dict:
    """The cost of word and viseme marks: element RTF with them over without them."""
    off, on = results["element-no-marks"], results["element-marks"]
    print(
        f"\nspeech marks: {median(on, 'marks'):.0f} word and viseme messages on the paragraph\n"
        f"{'':32} {'RTF (wall)':>10} {'RTF (CPU)':>10}\n"
        f"{'no marks (packaged voice)':32} {median(off, 'rtf'):10.4f} {median(off, 'cpu_rtf'):10.4f}\n"
        f"{'words + visemes':32} {median(on, 'rtf'):10.4f} {median(on, 'cpu_rtf'):10.4f}"
    )
    ratios = {
        "median": median(on, "rtf") / median(off, "rtf") - 1,
        "min": min(r["rtf"] for r in on) / min(r["rtf"] for r in off) - 1,
        "cpu_median": median(on, "cpu_rtf") / median(off, "cpu_rtf") - 1,
    }
    verdict = "ok" if ratios["median"] <= 0.02 else "MISSED"
    print(
        f"{'marks cost (RTF ratio - 1)':32} median {ratios['median']:+.1%}, min {ratios['min']:+.1%}, "
        f"CPU {ratios['cpu_median']:+.1%}   target <= +2% {verdict}"
    )
    return ratios


def report(results: dict[str, list[dict]], threads: int, repeats: int) -> dict:
    rows = [("element", "neuralttssrc"), ("ort", "bare ONNX Runtime"), ("piper", "piper-tts 1.8.0")]
    print(
        f"\nparagraph: {PARAGRAPH.relative_to(ROOT)}, voice {MODEL.name}, {threads} intra-op threads, "
        f"median of {repeats} runs (min-max)"
    )
    print(f"{'':20} {'RTF (wall)':>24} {'RTF (CPU)':>10} {'TTFA ms':>18} {'audio s':>8} {'chunks':>6}")
    for key, label in rows:
        runs = results[key]
        rtf = [r["rtf"] for r in runs]
        ttfa = [r["ttfa_s"] * 1000 for r in runs]
        print(
            f"{label:20} {statistics.median(rtf):8.4f} ({min(rtf):.4f}-{max(rtf):.4f})"
            f" {median(runs, 'cpu_rtf'):10.4f}"
            f" {statistics.median(ttfa):6.0f} ({min(ttfa):4.0f}-{max(ttfa):4.0f})"
            f" {median(runs, 'audio_s'):8.1f} {runs[0]['chunks']:6d}"
        )
    load = [r["load_s"] * 1000 for r in results["element"]]
    print(
        f"(element: voice loaded inside set_state(PLAYING), median {statistics.median(load):.0f} ms,"
        " not in TTFA)"
    )
    print(f"\npushed sentence {PUSHED[:40]!r}..., warm voice: time to first audio, ms")
    push_rows = [
        ("push-element-sentence", "neuralttssrc chunking=sentence"),
        ("push-element-clause", "neuralttssrc chunking=clause"),
        ("push-piper", "piper-tts 1.8.0"),
        ("push-ort-first-clause", "bare ORT, first clause only (*)"),
    ]
    for key, label in push_rows:
        ttfa = [r["ttfa_s"] * 1000 for r in results[key]]
        print(f"{label:32} {statistics.median(ttfa):6.0f} ({min(ttfa):.0f}-{max(ttfa):.0f})")
    print("(*) ids precomputed, no GStreamer: what streaming the first clause on its own could reach")

    def ratios_by(stat, rtf_key: str) -> dict:
        element, ort, piper = (stat(r[rtf_key] for r in results[k]) for k in ("element", "ort", "piper"))
        clause, piper_push = (
            stat(r["ttfa_s"] for r in results[k]) for k in ("push-element-clause", "push-piper")
        )
        return {
            "element_overhead_over_ort": element / ort - 1,
            "element_rtf_over_piper": element / piper,
            "clause_ttfa_over_piper": clause / piper_push,
        }

    ratios = {
        "median": ratios_by(statistics.median, "rtf"),
        "min": ratios_by(min, "rtf"),
        "cpu_median": ratios_by(statistics.median, "cpu_rtf"),
    }
    med, best, cpu = ratios["median"], ratios["min"], ratios["cpu_median"]

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"\n{'ratios':32} {'median':>8} {'min':>8} {'CPU':>8}   target (on the median)")
    for key, label, fmt, target, text in [
        ("element_overhead_over_ort", "element overhead over bare ORT", "+8.1%", 0.05, "<= +5%"),
        ("element_rtf_over_piper", "element RTF / piper RTF", "8.3f", 1.0, "<= 1"),
        ("clause_ttfa_over_piper", "pushed TTFA, clause / piper", "8.3f", 0.6, "<= 0.6"),
    ]:
        cpu_text = format(cpu[key], fmt) if key != "clause_ttfa_over_piper" else f"{'-':>8}"
        print(
            f"{label:32} {format(med[key], fmt)} {format(best[key], fmt)} {cpu_text}   "
            f"{text:7} {verdict(med[key] <= target)}"
        )
    print(
        "(min: ratio of the fastest runs; CPU: ratio of the median CPU-time RTFs. Both are less\n"
        " sensitive than the median wall time to other work on the machine.)"
    )
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description="neuralttssrc vs bare ONNX Runtime vs piper-tts")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, all three")
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build")
    parser.add_argument("--json", type=Path, help="also write all measurements here")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--marks-only", action="store_true", help="only measure the cost of speech marks"
    )
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.threads)))
        return 0

    for path in (MODEL, CONFIG, PARAGRAPH):
        if not path.exists():
            raise SystemExit(f"bench: {path} is missing (run scripts/setup.sh)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "-p", "gst-plugin-neuraltts"], cwd=ROOT, check=True)
    # The marks workers need only python3-gi: Debian's python3 will do.
    python = Path("/usr/bin/python3") if args.marks_only else ensure_venv()
    kinds = ["element-no-marks", "element-marks"] if args.marks_only else list(WORKERS)
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for round_ in range(args.repeats):
        for kind in kinds:
            results[kind].append(run_worker(python, kind, args.threads))
        print(f"bench: round {round_ + 1}/{args.repeats} done", file=sys.stderr)
    ratios = {} if args.marks_only else report(results, args.threads, args.repeats)
    ratios["marks_cost"] = report_marks(results)
    if not args.marks_only:
        ratios["ssml"] = ssml_report(results, ssml_parse_cost())
    if args.json:
        summary = {"threads": args.threads, "runs": results, "ratios": ratios}
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
