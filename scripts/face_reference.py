#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Reference outputs of the expression classifier's preprocessing, for tests/face_models.rs.

This is an independent re-implementation (numpy + onnxruntime + Pillow) of the crop and resize
documented in src/face/frame.rs and src/face/classify.rs:

  * crop region: box made square on its longer side around its centre (descriptor
    crop.square), grown by crop.margin_px on each side, corners rounded as floor(v + 0.5);
    pixels outside the frame are 0 (black);
  * gray = 0.299 R + 0.587 G + 0.114 B per source pixel;
  * bilinear resize on half-pixel centres, per axis:
    src = clamp((d + 0.5) * S / D - 0.5, 0, S - 1), i0 = floor(src), i1 = min(i0 + 1, S - 1);
  * value = pixel * scale + offset; all boxes of a frame in one batch.

How tests/data/face_reference.json was made (from the repository root, models provisioned in
data/):

    /usr/bin/python3 -m venv /tmp/h3venv
    /tmp/h3venv/bin/pip install -r scripts/requirements-reference.txt
    /tmp/h3venv/bin/python scripts/face_reference.py > tests/data/face_reference.json

Two sections:

  * "exact": JPEG decoders disagree slightly (Pillow/libjpeg-turbo and the `image` crate differ
    by up to 4 levels on these files), so each posed image is decoded by Pillow, resized to
    96x96 (Pillow bilinear) and stored losslessly as PNG (base64) in the JSON. Rust reads the
    very same pixels, so the crops and probabilities must agree to float precision (the test
    allows 1e-3). Boxes are fixed: one face box, one reaching out of the frame (padding), one
    with an odd size (half-pixel centre, rounding).
  * "decoded": the full-size JPEGs decoded by Pillow with fixed boxes (rounded CenterFace
    boxes at detection size 640). Rust decodes them with the `image` crate, so only the
    decoder differs: the test checks the channel means and allows a looser tolerance.
"""

import base64
import hashlib
import io
import json
import math
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("NEURAL_MEDIA_DATA_DIR") or os.path.join(ROOT, "data")
MODEL = os.path.join(DATA, "models", "face", "emotion-mini-xception.onnx")
DESCRIPTOR = os.path.join(DATA, "models", "face", "emotion-mini-xception.onnx.json")
MEDIA = os.path.join(DATA, "media")

EXACT_SIZE = 96
# Boxes on the 96x96 frames: face, out of frame, odd-sized.
EXACT_BOXES = {
    "0-f1-su-ph.jpg": [[21, 20, 79, 88], [-10, 30, 40, 110], [30, 25, 61, 70]],
    "0-f15-hao-ph.jpg": [[21, 19, 74, 90], [60, -20, 120, 50], [25, 33, 70, 64]],
    "15-f13-anc-ph.jpg": [[19, 22, 73, 87], [-5, -5, 30, 30], [18, 22, 75, 85]],
    "45-m7-di-ph.jpg": [[12, 27, 56, 89], [50, 60, 110, 105], [11, 29, 56, 88]],
}
# Rounded CenterFace boxes (detection_size 640) on the full-size images.
DECODED_BOXES = {
    "0-f1-su-ph.jpg": [[114, 108, 420, 471]],
    "0-f15-hao-ph.jpg": [[110, 101, 393, 479]],
    "15-f13-anc-ph.jpg": [[99, 115, 391, 464]],
    "45-m7-di-ph.jpg": [[63, 145, 298, 473]],
    "multi_face.jpg": [
        [688, 291, 791, 421],
        [316, 237, 412, 359],
        [534, 303, 633, 435],
        [223, 66, 306, 172],
        [440, 211, 517, 309],
    ],
}


def crop_region(box, crop):
    """Integer region (x, y, w, h), exactly as neural_media::face::classify::crop_region."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if crop.get("square", False):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = max(x2 - x1, y2 - y1)
        x1, y1, x2, y2 = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
    m = float(crop.get("margin_px", 0))
    x1, y1, x2, y2 = x1 - m, y1 - m, x2 + m, y2 + m
    rnd = lambda v: math.floor(v + 0.5)  # noqa: E731 (not numpy's round-half-to-even)
    return rnd(x1), rnd(y1), max(1, rnd(x2 - x1)), max(1, rnd(y2 - y1))


def taps(size, dst):
    src = np.clip((np.arange(dst, dtype=np.float64) + 0.5) * size / dst - 0.5, 0, size - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, size - 1)
    return i0, i1, src - i0


def crop_tensor(rgb, box, desc):
    """One face's input tensor [C, H, W] (nchw) or [H, W, C] (nhwc), float32."""
    inp = desc["input"]
    x, y, w, h = crop_region(box, desc.get("crop", {}))
    fh, fw, _ = rgb.shape
    padded = np.zeros((h, w, 3), dtype=np.float64)
    sx0, sy0 = max(x, 0), max(y, 0)
    sx1, sy1 = min(x + w, fw), min(y + h, fh)
    if sx1 > sx0 and sy1 > sy0:
        padded[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = rgb[sy0:sy1, sx0:sx1]
    color = inp["color"]
    if color == "gray":
        img = (0.299 * padded[..., 0] + 0.587 * padded[..., 1] + 0.114 * padded[..., 2])[..., None]
    elif color == "rgb":
        img = padded
    elif color == "bgr":
        img = padded[..., ::-1]
    else:
        raise ValueError(color)
    yi0, yi1, ty = taps(h, inp["height"])
    xi0, xi1, tx = taps(w, inp["width"])
    tx = tx[None, :, None]
    top = img[yi0][:, xi0] + (img[yi0][:, xi1] - img[yi0][:, xi0]) * tx
    bottom = img[yi1][:, xi0] + (img[yi1][:, xi1] - img[yi1][:, xi0]) * tx
    out = top + (bottom - top) * ty[:, None, None]
    out = out * inp["scale"] + inp["offset"]
    if inp.get("layout", "nchw") == "nchw":
        out = out.transpose(2, 0, 1)
    return out.astype(np.float32), (x, y, w, h)


def classify(session, desc, rgb, boxes):
    crops = [crop_tensor(rgb, b, desc) for b in boxes]
    batch = np.stack([c for c, _ in crops])
    (probs,) = session.run([desc["output"]["name"]], {desc["input"]["name"]: batch})
    probs = probs.astype(np.float64)
    if desc["output"].get("softmax", False):
        probs = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    return batch, [r for _, r in crops], probs


def samples(tensor):
    c = tensor.reshape(-1)
    idx = [0, 1000, 2080, 4095]
    return [float(c[i]) for i in idx]


def main():
    with open(DESCRIPTOR) as f:
        desc = json.load(f)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(MODEL, opts, providers=["CPUExecutionProvider"])
    with open(MODEL, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()

    exact = []
    for name, boxes in EXACT_BOXES.items():
        img = Image.open(os.path.join(MEDIA, name)).convert("RGB")
        img = img.resize((EXACT_SIZE, EXACT_SIZE), Image.BILINEAR)
        png = io.BytesIO()
        img.save(png, "PNG", optimize=True)
        rgb = np.asarray(img, dtype=np.float64)
        batch, regions, probs = classify(session, desc, rgb, boxes)
        exact.append(
            {
                "source": name,
                "png_base64": base64.b64encode(png.getvalue()).decode("ascii"),
                "boxes": boxes,
                "regions": [list(r) for r in regions],
                "crop_sums": [float(t.astype(np.float64).sum()) for t in batch],
                "crop_samples": [samples(t) for t in batch],
                "probabilities": probs.tolist(),
            }
        )

    decoded = []
    for name, boxes in DECODED_BOXES.items():
        rgb = np.asarray(Image.open(os.path.join(MEDIA, name)).convert("RGB"), dtype=np.float64)
        _, regions, probs = classify(session, desc, rgb, boxes)
        decoded.append(
            {
                "source": name,
                "width": rgb.shape[1],
                "height": rgb.shape[0],
                "channel_means": rgb.reshape(-1, 3).mean(axis=0).tolist(),
                "boxes": boxes,
                "regions": [list(r) for r in regions],
                "probabilities": probs.tolist(),
            }
        )

    json.dump(
        {
            "generator": "scripts/face_reference.py",
            "versions": {
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "onnxruntime": ort.__version__,
                "pillow": Image.__version__,
            },
            "model": os.path.relpath(MODEL, DATA),
            "model_sha256": model_sha,
            "descriptor": desc,
            "crop_sample_indices": [0, 1000, 2080, 4095],
            "exact": exact,
            "decoded": decoded,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
