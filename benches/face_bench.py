#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Speed of `faceexpression` against a Python OpenCV + ONNX Runtime implementation of the same work.

Run from anywhere, after scripts/setup.sh (data/, Debian's GStreamer, python3-gi):

    python3 benches/face_bench.py                  # 3 rounds, 2 intra-op threads
    python3 benches/face_bench.py --repeats 5 --threads 2 --json out.json

In one run it builds the plugin (`cargo build --release -p gst-plugin-faceexpr`, skip with
--no-build), creates benches/.venv-face on first use (Debian's python3 with system site packages,
so that python3-gi is importable; pins in benches/requirements-face-bench.txt: onnxruntime 1.32.0,
the library the element loads too, opencv-python-headless and numpy), renders once an upscaled
1280x720 copy of the sample video into target/face-bench/ (`videoscale` + x264 at constant QP 16),
then measures on data/media/WolfgangLanger_Pexels.mp4 (640x360, 472 frames, one face) and on that
copy, with the models data/models/face/centerface.onnx and emotion-mini-xception.onnx, at
detection-size 640 (the detector sees 640x352 in both cases) and inference-interval 1 and 3:

  element  `filesrc ! decodebin ! videoconvert ! faceexpression threads=N inference-interval=I
           detection-size=640 ! fakesink sync=false` through python3-gi: the pipeline of the
           issue, where caps negotiation hands the element the decoder's I420 and videoconvert
           passes it through (--format BGRx adds `video/x-raw,format=BGRx` before the element,
           to measure a converted input). fps: frames at the sink / wall time from the return of set_state(PLAYING)
           (the models load inside it) to EOS. Pad probes on faceexpression's pads give the time
           spent inside the element per frame (transform_ip: preprocessing, both models, decode,
           tracking, smoothing, metas).
  element-pipelined
           the same with `pipelined=true`: each frame is analysed on a worker thread while the
           streaming thread decodes the next one.
  python   the same work in Python: cv2.VideoCapture decodes (BGR); every I-th frame the detector
           input is cv2.dnn.blobFromImage(frame, size=(640, 352), swapRB=True) (bilinear, RGB
           planes, raw 0-255) into `input.1`; outputs 537..540 decoded as src/face/detect.rs does
           (heat > 0.5, exp(size) * 4, offsets, NMS 0.3, at most 32 faces); greedy IoU tracking
           with the element's velocity prediction, min-hits 2 and max-age 15; on EVERY frame each
           face matched by the last detector run is cropped as src/face/classify.rs crops
           (square on the long side, 10 px margin, corners rounded, black outside the frame),
           converted to gray (cv2.cvtColor), resized bilinear to 64x64 (cv2.resize INTER_LINEAR),
           scaled by 2/255 - 1, and all faces of the frame run as one batch; probabilities are
           smoothed per track (EMA). fps: frames / wall time of the loop (capture opened and
           sessions built before).
           Its two sessions are built as the element builds them: N intra-op threads each, all
           graph optimisations, and the classifier's pool does not spin
           (session.intra_op.allow_spinning=0), so that equal settings means equal ORT work.
  python-defaults
           the same script with ONNX Runtime's default session options (both pools spin), for
           reference: what a Python script gets unless it tunes this. On 2 cores the spinning
           classifier pool takes a core from the detector's next run and about halves the rate.
  ort      not a separate run: the time the python run spends inside its two session.run calls,
           per frame. That is bare ONNX Runtime on the element's input sizes, the floor of what
           any implementation costs.
  decode   `... ! videoconvert ! video/x-raw,format=BGRx ! fakesink` and a cv2.VideoCapture read
           loop: what decoding (and converting) the video alone costs each side.

Both sides use ONNX Runtime 1.32.0 on the CPU with N intra-op threads per session (the element's
`threads` property; SessionOptions.intra_op_num_threads) and all graph optimisations. Every
measurement runs in its own process (`--worker`), rounds interleave the kinds (so background load
hits all of them alike) and the medians over --repeats rounds are reported, with these ratios and
targets:

  element fps / python fps at equal settings                              target >= 1.15
  element overhead over bare ORT: 1 - (ort s per frame) / (element s per frame)
                                                                          target <= 10%
  interval 3 fps / interval 1 fps (element)                               target >= 2

The rows above run `detection-mode=full`. With --roi (issue #11) the bench instead compares
detection-mode=roi with full and with the python reference, all at inference-interval 1, on the clip
at 640x360, 1280x720 and 1920x1080, a 2x2 compositor mosaic (4 faces, 1280x720) and four small
copies on a 1920x1080 canvas (small faces), rendered once into target/face-bench/; see
benches/README.md for the targets.
"""

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benches"
VENV = BENCH / ".venv-face"
REQUIREMENTS = BENCH / "requirements-face-bench.txt"
DATA = Path(os.environ.get("NEURAL_MEDIA_DATA_DIR") or ROOT / "data")
VIDEO = DATA / "media/WolfgangLanger_Pexels.mp4"
DETECTOR = DATA / "models/face/centerface.onnx"
CLASSIFIER = DATA / "models/face/emotion-mini-xception.onnx"
DESCRIPTOR = DATA / "models/face/emotion-mini-xception.onnx.json"
PLUGIN_DIR = ROOT / "target/release"
RENDERED = ROOT / "target/face-bench"
SIZES = {"640x360": None, "1280x720": (1280, 720)}
# --roi (issue #11): the clip at three sizes, a 2x2 mosaic of it (4 faces, 1280x720) and four
# small copies on a 1920x1080 canvas (small faces: about 60x80 px each).
ROI_SIZES = {
    "640x360": None,
    "1280x720": (1280, 720),
    "1920x1080": (1920, 1080),
    "mosaic": (1280, 720),
    "small1080": (1920, 1080),
}
# Where the copies go on the canvas, and their size: (x, y) positions, (width, height).
LAYOUTS = {
    "mosaic": ([(0, 0), (640, 0), (0, 360), (640, 360)], (640, 360)),
    "small1080": ([(200, 150), (1300, 200), (400, 750), (1500, 800)], (192, 108)),
}
INTERVALS = (1, 3)
DETECTION_SIZE = 640
TIMEOUT = 600.0
FORMAT = ["any"]  # --format, passed to the workers in FACE_BENCH_FORMAT ("any": no caps filter)


def format_filter(fmt: str | None = None) -> str:
    """The caps filter put before the element: --format here, FACE_BENCH_FORMAT in the workers."""
    fmt = fmt or os.environ.get("FACE_BENCH_FORMAT", "any")
    return "" if fmt == "any" else f" ! video/x-raw,format={fmt}"


# The element's defaults (plugins/faceexpr/src/faceexpression/imp.rs, src/face/track.rs).
DETECTION_THRESHOLD = 0.5
NMS_THRESHOLD = 0.3
MAX_FACES = 32
IOU_THRESHOLD = 0.3
MIN_HITS = 2
MAX_AGE = 15
VELOCITY_GAIN = 0.5
EMA_ALPHA = 0.1


def video_for(size: str) -> Path:
    dims = ROI_SIZES[size]
    if dims is None:
        return VIDEO
    if size in LAYOUTS:
        return RENDERED / f"{VIDEO.stem}-{size}.mp4"
    w, h = dims
    return RENDERED / f"{VIDEO.stem}-{w}x{h}.mp4"


def cpu_time() -> float:
    """CPU seconds (user + system) of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- workers (run inside benches/.venv-face, one measurement each, JSON on stdout) -----------


def gst():
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstVideo", "1.0")
    from gi.repository import Gst, GstVideo

    Gst.init(None)
    return Gst, GstVideo


def run_to_eos(Gst, pipeline) -> None:
    bus = pipeline.get_bus()
    msg = bus.timed_pop_filtered(
        int(TIMEOUT * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    if msg is None:
        raise SystemExit("element: timeout")
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        raise SystemExit(f"element: {err.message} ({debug})")


def worker_element(
    size: str, interval: int, threads: int, frames: int, pipelined: bool = False, mode: str = "full"
) -> dict:
    Gst, GstVideo = gst()
    if Gst.ElementFactory.find("faceexpression") is None:
        raise SystemExit(f"faceexpression not found in {PLUGIN_DIR}: cargo build --release -p gst-plugin-faceexpr")
    limit = f" ! identity eos-after={frames}" if frames else ""
    pipeline = Gst.parse_launch(
        f"filesrc name=src ! decodebin ! videoconvert{limit}{format_filter()}"
        f" ! faceexpression name=fe threads={threads} inference-interval={interval}"
        f" detection-size={DETECTION_SIZE} pipelined={str(pipelined).lower()} detection-mode={mode}"
        " ! fakesink name=sink sync=false"
    )
    pipeline.get_by_name("src").set_property("location", str(video_for(size)))
    fe = pipeline.get_by_name("fe")
    roi_api = GstVideo.VideoRegionOfInterestMeta.get_info().api
    timing = {"in": 0.0, "inside": 0.0, "frames": 0, "faces": 0}

    def on_sink(_pad, _info):
        timing["in"] = time.perf_counter()
        return Gst.PadProbeReturn.OK

    def on_src(_pad, info):
        timing["inside"] += time.perf_counter() - timing["in"]
        timing["frames"] += 1
        timing["faces"] += info.get_buffer().get_n_meta(roi_api)
        return Gst.PadProbeReturn.OK

    fe.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_sink)
    fe.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_src)
    called = time.perf_counter()
    pipeline.set_state(Gst.State.PLAYING)
    t0 = time.perf_counter()
    cpu0 = cpu_time()
    run_to_eos(Gst, pipeline)
    wall = time.perf_counter() - t0
    cpu = cpu_time() - cpu0
    caps = fe.get_static_pad("sink").get_current_caps().get_structure(0)
    pipeline.set_state(Gst.State.NULL)
    n = timing["frames"]
    return {
        "load_s": t0 - called,
        "frames": n,
        "size": f"{caps.get_int('width')[1]}x{caps.get_int('height')[1]}",
        "format": caps.get_string("format"),
        "wall_s": wall,
        "fps": n / wall,
        "cpu_per_frame_ms": cpu / n * 1000,
        "inside_ms": timing["inside"] / n * 1000,
        "faces": timing["faces"],
    }


def worker_element_decode(size: str, _interval: int, _threads: int, frames: int) -> dict:
    Gst, _ = gst()
    limit = f" ! identity eos-after={frames}" if frames else ""
    pipeline = Gst.parse_launch(
        f"filesrc name=src ! decodebin ! videoconvert{limit}{format_filter()}"
        " ! fakesink name=sink sync=false"
    )
    pipeline.get_by_name("src").set_property("location", str(video_for(size)))
    count = [0]

    def on_buffer(_pad, _info):
        count[0] += 1
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)
    pipeline.set_state(Gst.State.PLAYING)
    t0 = time.perf_counter()
    run_to_eos(Gst, pipeline)
    wall = time.perf_counter() - t0
    pipeline.set_state(Gst.State.NULL)
    return {"frames": count[0], "wall_s": wall, "fps": count[0] / wall}


def input_size(width: int, height: int, detection_size: int) -> tuple[int, int]:
    """neural_media::face::detect::input_size (Rust's round() is half away from zero)."""
    scale = detection_size / max(width, height, 1) if detection_size else 1.0
    side = lambda v: max(1, math.floor(v * scale / 32 + 0.5)) * 32  # noqa: E731
    return side(width), side(height)


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Detector:
    """CenterFace as src/face/detect.rs runs it."""

    def __init__(self, session, frame_w: int, frame_h: int) -> None:
        self.session = session
        self.w, self.h = input_size(frame_w, frame_h, DETECTION_SIZE)
        self.sx, self.sy = frame_w / self.w, frame_h / self.h
        self.fw, self.fh = frame_w, frame_h
        self.run_s = 0.0

    def detect(self, frame) -> list:
        import cv2
        import numpy as np

        blob = cv2.dnn.blobFromImage(frame, 1.0, (self.w, self.h), swapRB=True)
        t = time.perf_counter()
        heat, size, offset, _landmarks = self.session.run(["537", "538", "539", "540"], {"input.1": blob})
        self.run_s += time.perf_counter() - t
        ys, xs = np.nonzero(heat[0, 0] > DETECTION_THRESHOLD)
        if ys.size == 0:
            return []
        score = heat[0, 0, ys, xs]
        bh = np.exp(size[0, 0, ys, xs]) * 4
        bw = np.exp(size[0, 1, ys, xs]) * 4
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
        x1 = np.clip(cx - bw / 2, 0, self.w)
        y1 = np.clip(cy - bh / 2, 0, self.h)
        x2 = np.clip(cx + bw / 2, 0, self.w)
        y2 = np.clip(cy + bh / 2, 0, self.h)
        # Landmarks are decoded by the element too (it reports them); read them here alike.
        _ = _landmarks[0, :, ys, xs]
        candidates = [
            (float(s), (float(a), float(b), float(c), float(d)))
            for s, a, b, c, d in zip(score, x1, y1, x2, y2)
            if c > a and d > b
        ]
        candidates.sort(key=lambda c: -c[0])
        kept: list = []
        for s, box in candidates:
            if all(iou(k, box) <= NMS_THRESHOLD for _, k in kept):
                kept.append((s, box))
        faces = []
        for s, (a, b, c, d) in kept[:MAX_FACES]:
            box = (
                min(max(a * self.sx, 0), self.fw),
                min(max(b * self.sy, 0), self.fh),
                min(max(c * self.sx, 0), self.fw),
                min(max(d * self.sy, 0), self.fh),
            )
            faces.append((s, box))
        return faces


class Classifier:
    """mini-Xception with the crop of src/face/classify.rs, from the descriptor."""

    def __init__(self, session, descriptor: dict) -> None:
        self.session = session
        self.input = descriptor["input"]
        self.crop = descriptor["crop"]
        self.output = descriptor["output"]["name"]
        if self.input["color"] != "gray" or self.input.get("layout", "nchw") != "nchw":
            raise SystemExit("bench: the python side implements gray nchw classifiers only")
        self.run_s = 0.0

    def region(self, box) -> tuple[int, int, int, int]:
        """neural_media::face::classify::crop_region."""
        x1, y1, x2, y2 = box
        if self.crop.get("square", False):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            side = max(x2 - x1, y2 - y1)
            x1, y1, x2, y2 = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
        m = float(self.crop.get("margin_px", 0))
        x1, y1, x2, y2 = x1 - m, y1 - m, x2 + m, y2 + m
        rnd = lambda v: math.floor(v + 0.5)  # noqa: E731
        return rnd(x1), rnd(y1), max(1, rnd(x2 - x1)), max(1, rnd(y2 - y1))

    def tensor(self, frame, box):
        import cv2
        import numpy as np

        x, y, w, h = self.region(box)
        fh, fw = frame.shape[:2]
        sx0, sy0, sx1, sy1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
        if sx1 <= sx0 or sy1 <= sy0:
            gray = np.zeros((h, w), np.uint8)
        else:
            gray = cv2.cvtColor(frame[sy0:sy1, sx0:sx1], cv2.COLOR_BGR2GRAY)
            if (sx0, sy0, sx1, sy1) != (x, y, x + w, y + h):
                gray = cv2.copyMakeBorder(
                    gray, sy0 - y, y + h - sy1, sx0 - x, x + w - sx1, cv2.BORDER_CONSTANT, value=0
                )
        small = cv2.resize(gray, (self.input["width"], self.input["height"]), interpolation=cv2.INTER_LINEAR)
        return small.astype(np.float32) * np.float32(self.input["scale"]) + np.float32(self.input["offset"])

    def classify(self, frame, boxes: list):
        import numpy as np

        batch = np.stack([self.tensor(frame, b) for b in boxes])[:, None]
        t = time.perf_counter()
        (probs,) = self.session.run([self.output], {self.input["name"]: batch})
        self.run_s += time.perf_counter() - t
        return probs


class Track:
    def __init__(self, track_id: int, box) -> None:
        self.id = track_id
        self.box = box
        self.velocity = (0.0, 0.0)
        self.hits = 1
        self.since = 0
        self.matched = True
        self.probs = None

    def advance(self) -> None:
        dx, dy = self.velocity
        x1, y1, x2, y2 = self.box
        self.box = (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
        self.since += 1


class Tracker:
    """IoU tracking (greedy instead of the element's Hungarian matching: one face here)."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self.next_id = 1

    def predict(self) -> None:
        for t in self.tracks:
            t.advance()

    def update(self, boxes: list) -> None:
        for t in self.tracks:
            t.advance()
            t.matched = False
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        used_t, used_b = set(), set()
        for overlap, ti, bi in pairs:
            if overlap < IOU_THRESHOLD or ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            t, b = self.tracks[ti], boxes[bi]
            frames = max(t.since, 1)
            ox, oy = (t.box[0] + t.box[2]) / 2, (t.box[1] + t.box[3]) / 2
            nx, ny = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            t.velocity = (
                t.velocity[0] + VELOCITY_GAIN * (nx - ox) / frames,
                t.velocity[1] + VELOCITY_GAIN * (ny - oy) / frames,
            )
            t.box, t.hits, t.since, t.matched = b, t.hits + 1, 0, True
        self.tracks = [t for t in self.tracks if t.since <= MAX_AGE]
        for bi, b in enumerate(boxes):
            if bi not in used_b:
                self.tracks.append(Track(self.next_id, b))
                self.next_id += 1


def ort_sessions(threads: int, classifier_spins: bool):
    """Both sessions as the element builds them (src/face/mod.rs: the classifier's pool does not
    spin), or with ONNX Runtime's defaults everywhere (`classifier_spins`)."""
    import onnxruntime

    def load(path: Path, spinning: bool):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    return load(DETECTOR, True), load(CLASSIFIER, classifier_spins)


def worker_python(size: str, interval: int, threads: int, frames: int, defaults: bool = False) -> dict:
    import cv2
    import numpy as np

    descriptor = json.loads(DESCRIPTOR.read_text(encoding="utf-8"))
    det_session, cls_session = ort_sessions(threads, classifier_spins=defaults)
    capture = cv2.VideoCapture(str(video_for(size)))
    if not capture.isOpened():
        raise SystemExit(f"python: cannot open {video_for(size)}")
    fw = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    fh = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    detector = Detector(det_session, fw, fh)
    classifier = Classifier(cls_session, descriptor)
    tracker = Tracker()
    n = faces = visible = changes = 0
    t0 = time.perf_counter()
    cpu0 = cpu_time()
    while not frames or n < frames:
        ok, frame = capture.read()
        if not ok:
            break
        if n % interval == 0:
            tracker.update([box for _, box in detector.detect(frame)])
        else:
            tracker.predict()
        live = []
        for t in tracker.tracks:
            x1, y1, x2, y2 = t.box
            box = (min(max(x1, 0), fw), min(max(y1, 0), fh), min(max(x2, 0), fw), min(max(y2, 0), fh))
            if t.matched and box[2] > box[0] and box[3] > box[1]:
                live.append((t, box))
        if live:
            probs = classifier.classify(frame, [box for _, box in live])
            for (t, _), p in zip(live, probs):
                old = None if t.probs is None else int(np.argmax(t.probs))
                t.probs = p if t.probs is None else (1 - EMA_ALPHA) * t.probs + EMA_ALPHA * p
                changes += old != int(np.argmax(t.probs))
                visible += t.hits >= MIN_HITS
            faces += len(live)
        n += 1
    wall = time.perf_counter() - t0
    cpu = cpu_time() - cpu0
    return {
        "frames": n,
        "size": f"{fw}x{fh}",
        "detector_input": f"{detector.w}x{detector.h}",
        "wall_s": wall,
        "fps": n / wall,
        "cpu_per_frame_ms": cpu / n * 1000,
        "ort_ms": (detector.run_s + classifier.run_s) / n * 1000,
        "ort_detector_ms": detector.run_s / n * 1000,
        "ort_classifier_ms": classifier.run_s / n * 1000,
        "faces": visible,
        "classified": faces,
        "changes": changes,
    }


def worker_python_decode(size: str, _interval: int, _threads: int, frames: int) -> dict:
    import cv2

    capture = cv2.VideoCapture(str(video_for(size)))
    n = 0
    t0 = time.perf_counter()
    while not frames or n < frames:
        ok, _frame = capture.read()
        if not ok:
            break
        n += 1
    wall = time.perf_counter() - t0
    return {"frames": n, "wall_s": wall, "fps": n / wall}


def worker_element_pipelined(size: str, interval: int, threads: int, frames: int) -> dict:
    return worker_element(size, interval, threads, frames, pipelined=True)


def worker_python_defaults(size: str, interval: int, threads: int, frames: int) -> dict:
    return worker_python(size, interval, threads, frames, defaults=True)


def worker_element_roi(size: str, interval: int, threads: int, frames: int) -> dict:
    return worker_element(size, interval, threads, frames, mode="roi")


WORKERS = {
    "element": worker_element,
    "element-pipelined": worker_element_pipelined,
    "element-roi": worker_element_roi,
    "python": worker_python,
    "python-defaults": worker_python_defaults,
    "element-decode": worker_element_decode,
    "python-decode": worker_python_decode,
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


def render_upscaled(sizes) -> None:
    """Encodes each copy once (x264 at constant QP 16): both sides then decode the very same
    frames. Scaled copies with videoscale; the mosaic and the small faces with compositor."""
    for size in sizes:
        dims = ROI_SIZES[size]
        out = video_for(size)
        if dims is None or out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".part.mp4")
        w, h = dims
        print(f"bench: rendering {out.relative_to(ROOT)}", file=sys.stderr)
        encode = (
            f"video/x-raw,width={w},height={h},format=I420 ! x264enc pass=quant quantizer=16"
            f" speed-preset=fast ! mp4mux ! filesink location={partial}"
        )
        if size in LAYOUTS:
            positions, (cw, ch) = LAYOUTS[size]
            pads = " ".join(f"sink_{i}::xpos={x} sink_{i}::ypos={y}" for i, (x, y) in enumerate(positions))
            branches = " ".join(
                f"filesrc location={VIDEO} ! decodebin ! videoconvert ! videoscale !"
                f" video/x-raw,width={cw},height={ch} ! c.sink_{i}"
                for i in range(len(positions))
            )
            line = f"compositor name=c background=black {pads} ! videoconvert ! {encode} {branches}"
        else:
            line = f"filesrc location={VIDEO} ! decodebin ! videoconvert ! videoscale ! {encode}"
        subprocess.run(["gst-launch-1.0", "-q", *line.split()], check=True)
        partial.rename(out)


def run_worker(python: Path, kind: str, size: str, interval: int, threads: int, frames: int) -> dict:
    env = dict(os.environ, GST_PLUGIN_PATH=str(PLUGIN_DIR), FACE_BENCH_FORMAT=FORMAT[0])
    out = subprocess.run(
        [
            str(python), str(Path(__file__).resolve()), "--worker", kind, "--size", size,
            "--interval", str(interval), "--threads", str(threads), "--frames", str(frames),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: worker {kind} {size} interval {interval} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def fed(results: dict) -> str:
    """The formats faceexpression negotiated, and how."""
    formats = sorted({r["format"] for (kind, _, _), runs in results.items() if kind == "element" for r in runs})
    how = "no caps filter" if FORMAT[0] == "any" else f"caps filter format={FORMAT[0]}"
    return f"{'/'.join(formats)} ({how})"


def report(results: dict, threads: int, repeats: int) -> dict:
    def med(key: tuple, field: str) -> float:
        return statistics.median(r[field] for r in results[key])

    def lo_hi(key: tuple, field: str) -> str:
        values = [r[field] for r in results[key]]
        return f"{min(values):.1f}-{max(values):.1f}"

    print(
        f"\n{VIDEO.name}, detection-size {DETECTION_SIZE} (detector input 640x352), {threads} intra-op"
        f" threads per session, CPU, element fed {fed(results)}, median of {repeats} runs (min-max)"
    )
    header = (
        f"{'size':9} {'int':>3} {'element fps':>18} {'python fps':>18} {'el/py':>6}"
        f" {'el ms/f':>8} {'inside':>7} {'ORT ms/f':>8} {'el ovh':>7} {'el CPU':>7} {'py CPU':>7}"
        f" {'faces el/py':>11} {'py dflt fps':>11} {'el/dflt':>7} {'pipelined fps':>13} {'pl/py':>6}"
    )
    print(header)
    ratios: dict = {"element_own_work_share": {}}
    for size in SIZES:
        for interval in INTERVALS:
            el, py = ("element", size, interval), ("python", size, interval)
            dflt = ("python-defaults", size, interval)
            piped = ("element-pipelined", size, interval)
            el_fps, py_fps = med(el, "fps"), med(py, "fps")
            frame_ms = 1000 / el_fps
            ort_ms = med(py, "ort_ms")
            overhead = 1 - ort_ms / frame_ms
            print(
                f"{size:9} {interval:3d} {el_fps:6.1f} ({lo_hi(el, 'fps'):>10}) {py_fps:6.1f} ({lo_hi(py, 'fps'):>10})"
                f" {el_fps / py_fps:6.2f} {frame_ms:8.1f} {med(el, 'inside_ms'):7.1f} {ort_ms:8.1f}"
                f" {overhead:+7.0%} {med(el, 'cpu_per_frame_ms'):7.1f} {med(py, 'cpu_per_frame_ms'):7.1f}"
                f" {results[el][0]['faces']:5d}/{results[py][0]['faces']:<5d}"
                f" {med(dflt, 'fps'):11.1f} {el_fps / med(dflt, 'fps'):7.2f}"
                f" {med(piped, 'fps'):13.1f} {med(piped, 'fps') / py_fps:6.2f}"
            )
    print(
        "(el ms/f: element wall time per frame = 1/fps; inside: time inside faceexpression per frame\n"
        " (pad probe to pad probe); ORT ms/f: the python run's two session.run calls per frame; el ovh:\n"
        " 1 - ORT / el ms/f; CPU: CPU ms per frame, all threads; faces: face-frames reported;\n"
        " py dflt: the python script with ONNX Runtime's default session options, el/dflt: element over it;\n"
        " pipelined: the element with pipelined=true, pl/py: it over python.)"
    )
    print("\ndecoding alone (decode + convert, no analysis), fps:")
    for size in SIZES:
        el, py = ("element-decode", size, 0), ("python-decode", size, 0)
        print(
            f"{size:9} gst decodebin ! videoconvert{format_filter(FORMAT[0])} {med(el, 'fps'):7.0f} ({1000 / med(el, 'fps'):.1f} ms/f)"
            f"   cv2.VideoCapture {med(py, 'fps'):7.0f} ({1000 / med(py, 'fps'):.1f} ms/f)"
        )
    print("\nbreakdown of the element's frame time, ms (median): frame = inside + rest of the pipeline")
    for size in SIZES:
        for interval in INTERVALS:
            el, py = ("element", size, interval), ("python", size, interval)
            frame_ms, inside, ort_ms = 1000 / med(el, "fps"), med(el, "inside_ms"), med(py, "ort_ms")
            ratios["element_own_work_share"][f"{size} i{interval}"] = (inside - ort_ms) / frame_ms
            print(
                f"{size:9} i{interval}: frame {frame_ms:5.1f} = ORT {ort_ms:5.1f} + element's own work"
                f" {inside - ort_ms:4.1f} ({(inside - ort_ms) / frame_ms:4.0%}) + decode/convert/pipeline"
                f" {frame_ms - inside:4.1f} ({(frame_ms - inside) / frame_ms:4.0%})"
            )

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    def three(key_el: tuple, key_py: tuple, f) -> dict:
        """f(element run(s), python run(s)) on the medians, the best runs, and paired per round."""
        el, py = results[key_el], results[key_py]
        best_el = max(el, key=lambda r: r["fps"])
        best_py = max(py, key=lambda r: r["fps"])
        medians = ({k: statistics.median(r[k] for r in el) for k in ("fps",)},
                   {k: statistics.median(r[k] for r in py) for k in ("fps", "ort_ms")})
        best_ort = {"fps": best_py["fps"], "ort_ms": min(r["ort_ms"] for r in py)}
        return {
            "median": f(medians[0], medians[1]),
            "best": f(best_el, best_ort),
            "paired": statistics.median(f(a, b) for a, b in zip(el, py)),
        }

    speed = lambda e, p: e["fps"] / p["fps"]  # noqa: E731
    overhead = lambda e, p: 1 - p["ort_ms"] / (1000 / e["fps"])  # noqa: E731
    table = {
        "fps_element_over_python": {},
        "fps_element_over_python_defaults": {},
        "fps_pipelined_over_python": {},
        "overhead_pipelined_over_ort": {},
        "overhead_over_ort": {},
        "interval3_over_1": {},
    }
    for size in SIZES:
        for interval in INTERVALS:
            el, py = ("element", size, interval), ("python", size, interval)
            table["fps_element_over_python"][f"{size} i{interval}"] = three(el, py, speed)
            dflt = ("python-defaults", size, interval)
            table["fps_element_over_python_defaults"][f"{size} i{interval}"] = three(el, dflt, speed)
            piped = ("element-pipelined", size, interval)
            table["fps_pipelined_over_python"][f"{size} i{interval}"] = three(piped, py, speed)
            table["overhead_pipelined_over_ort"][f"{size} i{interval}"] = three(piped, py, overhead)
            table["overhead_over_ort"][f"{size} i{interval}"] = three(el, py, overhead)
        for kind in ("element", "element-pipelined", "python"):
            i1, i3 = results[(kind, size, 1)], results[(kind, size, 3)]
            table["interval3_over_1"][f"{kind} {size}"] = {
                "median": statistics.median(r["fps"] for r in i3) / statistics.median(r["fps"] for r in i1),
                "best": max(r["fps"] for r in i3) / max(r["fps"] for r in i1),
                "paired": statistics.median(a["fps"] / b["fps"] for a, b in zip(i3, i1)),
            }
    print(f"\n{'ratios':60} {'median':>7} {'best':>7} {'paired':>7}   target (on the median)")
    for name, key, fmt, target, ok in [
        ("element fps / python fps", "fps_element_over_python", "7.2f", ">= 1.15", lambda v: v >= 1.15),
        ("pipelined element fps / python fps", "fps_pipelined_over_python", "7.2f", ">= 1.15", lambda v: v >= 1.15),
        ("element fps / python (ORT defaults) fps", "fps_element_over_python_defaults", "7.2f", "", None),
        ("element overhead over bare ORT", "overhead_over_ort", "+7.0%", "<= 10%", lambda v: v <= 0.10),
        ("pipelined overhead over bare ORT", "overhead_pipelined_over_ort", "+7.0%", "<= 10%", lambda v: v <= 0.10),
        ("interval 3 fps / interval 1 fps", "interval3_over_1", "7.2f", ">= 2", lambda v: v >= 2),
    ]:
        for setting, v in table[key].items():
            note = f"{target:7} {verdict(ok(v['median']))}" if ok else "(for reference)"
            if setting.startswith("python"):
                note = "(python, for reference)"
            print(
                f"{name + ', ' + setting:60} {format(v['median'], fmt)} {format(v['best'], fmt)}"
                f" {format(v['paired'], fmt)}   {note}"
            )
    print(
        "(median: from the medians of the table; best: from the fastest run of each kind; paired:\n"
        " median over the rounds of the ratio between runs made back to back, the least sensitive to\n"
        " load that changes over minutes.)"
    )
    ratios.update(table)
    return ratios


def roi_section(python: Path, args) -> int:
    """Issue #11: detection-mode=roi against full and against the python reference, all at
    inference-interval 1, on the clip at three sizes, on a 4-face mosaic and on small faces."""
    sizes = list(ROI_SIZES)
    render_upscaled(sizes)
    kinds = ("element", "element-roi", "python", "element-decode")
    plan = [(kind, size) for size in sizes for kind in kinds]
    results: dict = {key: [] for key in plan}
    for round_ in range(args.repeats):
        # Odd rounds in reverse order: load that drifts over minutes hits every kind alike.
        for kind, size in plan if round_ % 2 == 0 else reversed(plan):
            results[(kind, size)].append(run_worker(python, kind, size, 1, args.threads, args.frames))
        print(f"bench: round {round_ + 1}/{args.repeats} done", file=sys.stderr)

    def med(key: tuple, field: str) -> float:
        return statistics.median(r[field] for r in results[key])

    print(
        f"\ndetection-mode=roi vs full vs python, {VIDEO.name} copies, inference-interval 1,"
        f" detection-size {DETECTION_SIZE}, {args.threads} intra-op threads per session, CPU,"
        f" median of {args.repeats} rounds"
    )
    print(
        f"{'source':10} {'full fps':>8} {'roi fps':>8} {'py fps':>7} {'roi/full':>8} {'roi/py':>7}"
        f" {'full/py':>7} {'in full':>7} {'in roi':>7} {'in f/r':>6} {'decode':>7} {'faces full/roi/py':>18}"
    )
    ratios: dict = {}
    for size in sizes:
        full, roi, py, dec = (("element", size), ("element-roi", size), ("python", size), ("element-decode", size))
        f_fps, r_fps, p_fps = med(full, "fps"), med(roi, "fps"), med(py, "fps")
        f_in, r_in = med(full, "inside_ms"), med(roi, "inside_ms")
        paired = statistics.median(a["fps"] / b["fps"] for a, b in zip(results[roi], results[full]))
        ratios[size] = {
            "roi_over_full_fps": r_fps / f_fps,
            "roi_over_full_fps_paired": paired,
            "roi_over_python_fps": r_fps / p_fps,
            "full_over_python_fps": f_fps / p_fps,
            "inside_full_over_roi": f_in / r_in,
            "faces": [results[full][0]["faces"], results[roi][0]["faces"], results[py][0]["faces"]],
        }
        print(
            f"{size:10} {f_fps:8.1f} {r_fps:8.1f} {p_fps:7.1f} {r_fps / f_fps:8.2f} {r_fps / p_fps:7.2f}"
            f" {f_fps / p_fps:7.2f} {f_in:7.1f} {r_in:7.1f} {f_in / r_in:6.2f} {med(dec, 'fps'):7.0f}"
            f" {results[full][0]['faces']:6d}/{results[roi][0]['faces']:5d}/{results[py][0]['faces']:<5d}"
        )
    print(
        "(fps: frames at the sink / wall time; in full / in roi: ms per frame inside faceexpression,\n"
        " pad probe to pad probe; decode: decodebin ! videoconvert alone, fps; faces: face-frames\n"
        " reported (ROI metas; python: confirmed tracks) in the first round. mosaic: 2x2 copies,\n"
        " 1280x720, 4 faces; small1080: 4 copies at 192x108 on a 1920x1080 canvas.)"
    )

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"\n{'target':55} {'value':>7}")
    for name, value, target in [
        ("roi / full fps, 640x360 (>= 2.5)", ratios["640x360"]["roi_over_full_fps"], 2.5),
        ("roi / full fps, 1280x720 (>= 2.5)", ratios["1280x720"]["roi_over_full_fps"], 2.5),
        ("roi / full fps, 1920x1080 (>= 2)", ratios["1920x1080"]["roi_over_full_fps"], 2.0),
        ("full / roi time inside the element, 1920x1080 (>= 3)", ratios["1920x1080"]["inside_full_over_roi"], 3.0),
        ("roi / full fps, mosaic (>= 1.5)", ratios["mosaic"]["roi_over_full_fps"], 1.5),
    ] + [(f"roi / python fps, {size} (>= 2)", ratios[size]["roi_over_python_fps"], 2.0) for size in sizes]:
        print(f"{name:55} {value:7.2f} {verdict(value >= target)}")
    small = ratios["small1080"]["faces"]
    print(
        f"\nsmall faces in 1080p (4 faces of about 60x80 px, {results[('element', 'small1080')][0]['frames']}"
        f" frames): face-frames found by full {small[0]}, by roi {small[1]} (python, full-frame: {small[2]})"
    )
    if args.json:
        runs = {f"{k} {s}": v for (k, s), v in results.items()}
        args.json.write_text(json.dumps({"threads": args.threads, "runs": runs, "ratios": ratios}, indent=1) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="faceexpression vs a Python OpenCV + ONNX Runtime implementation")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads per session, both sides")
    parser.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: all 472)")
    parser.add_argument(
        "--format",
        default="any",
        help="caps filter before faceexpression (any: none, the decoder's I420 passes through; BGRx: converted)",
    )
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build")
    parser.add_argument("--json", type=Path, help="also write all measurements here")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--roi",
        action="store_true",
        help="measure detection-mode=roi against full and python (issue #11) instead",
    )
    parser.add_argument("--size", choices=sorted(ROI_SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.size, args.interval, args.threads, args.frames)))
        return 0

    FORMAT[0] = args.format
    for path in (VIDEO, DETECTOR, CLASSIFIER, DESCRIPTOR):
        if not path.exists():
            raise SystemExit(f"bench: {path} is missing (run scripts/setup.sh)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "gst-plugin-faceexpr"], cwd=ROOT, check=True)
    python = ensure_venv()
    if args.roi:
        return roi_section(python, args)
    render_upscaled(SIZES)
    plan = [("element-decode", s, 0) for s in SIZES] + [("python-decode", s, 0) for s in SIZES]
    plan += [
        (kind, s, i)
        for s in SIZES
        for i in INTERVALS
        for kind in ("element", "element-pipelined", "python", "python-defaults")
    ]
    results: dict = {key: [] for key in plan}
    for round_ in range(args.repeats):
        for kind, size, interval in plan:
            results[(kind, size, interval)].append(
                run_worker(python, kind, size, interval or 1, args.threads, args.frames)
            )
        print(f"bench: round {round_ + 1}/{args.repeats} done", file=sys.stderr)
    ratios = report(results, args.threads, args.repeats)
    if args.json:
        runs = {f"{k} {s} {i}": v for (k, s, i), v in results.items()}
        summary = {"threads": args.threads, "runs": runs, "ratios": ratios}
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
