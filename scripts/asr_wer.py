#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Word error rate of speech in a WAV file against a reference text, with pocketsphinx.

    .venv/bin/python scripts/asr_wer.py SPEECH.wav REFERENCE.txt

Prints one JSON object: {"hyp": ..., "ref": ..., "wer": ..., "words": ..., "errors": ...,
"seconds": ...}; "words" is the number of reference words, "wer" = errors / words.

* Audio: a PCM WAV (8/16/32-bit integer or 32-bit float, any rate, any channel count) is mixed
  down to mono and resampled to 16 kHz (windowed-sinc, numpy) before recognition; audio that is
  already 16 kHz mono S16 is passed through untouched.
* Recogniser: pocketsphinx 5.1.1 (PyPI, pinned in scripts/requirements-test.txt) with the en-us
  acoustic model, language model and dictionary its wheel ships; nothing is downloaded. The audio
  is cut into utterances at pauses by pocketsphinx's own voice-activity Segmenter, and each is
  decoded on its own (a long single utterance drifts).
* WER: word-level Levenshtein distance (substitutions + insertions + deletions) after lowercasing
  and removing punctuation (apostrophes inside words are kept). Numbers in the reference must be
  written as words: the recogniser's dictionary has no digits.

Used by plugins/tts/tests/intelligibility.rs; scripts/setup.sh installs the requirements.
"""

import argparse
import io
import json
import re
import sys
import wave
from pathlib import Path

import numpy as np

RATE = 16000


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        # wave only opens WAVE_FORMAT_PCM: 32-bit integer samples.
        data = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise SystemExit(f"{path}: unsupported sample width {width}")
    return data.reshape(-1, channels).mean(axis=1), rate


def resample(x: np.ndarray, src: int, dst: int, taps: int = 32) -> np.ndarray:
    """Band-limited resampling by windowed-sinc interpolation (Blackman window)."""
    if src == dst:
        return x
    n_out = int(len(x) * dst / src)
    cutoff = min(1.0, dst / src)  # fraction of the source Nyquist frequency kept
    half = int(np.ceil(taps / cutoff))
    padded = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half + 1, np.float32)])
    out = np.empty(n_out, np.float32)
    block = 4096
    offsets = np.arange(-half + 1, half + 1)
    for start in range(0, n_out, block):
        t = np.arange(start, min(start + block, n_out)) * (src / dst)
        base = np.floor(t).astype(np.int64)
        idx = base[:, None] + offsets[None, :]
        dist = t[:, None] - idx
        window = np.where(
            np.abs(dist) < half,
            0.42 + 0.5 * np.cos(np.pi * dist / half) + 0.08 * np.cos(2 * np.pi * dist / half),
            0.0,
        )
        kernel = cutoff * np.sinc(cutoff * dist) * window
        out[start : start + len(t)] = (padded[idx + half] * kernel).sum(axis=1)
    return out


def to_s16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 32767 / 32768) * 32768.0).round().astype("<i2").tobytes()


def load_pcm16k(path: Path) -> tuple[bytes, float]:
    with wave.open(str(path), "rb") as w:
        passthrough = (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        if passthrough:
            raw = w.readframes(w.getnframes())
            return raw, len(raw) / 2 / RATE
    samples, rate = read_wav(path)
    out = resample(samples, rate, RATE)
    return to_s16(out), len(out) / RATE


def recognise(pcm: bytes) -> str:
    from pocketsphinx import Decoder, Segmenter

    decoder = Decoder(samprate=RATE, loglevel="FATAL")
    segmenter = Segmenter(sample_rate=RATE)
    segments = [s.pcm for s in segmenter.segment(io.BytesIO(pcm))]
    if segmenter.speech_frames:  # speech running up to the very end of the file
        segments.append(b"".join(segmenter.speech_frames))
    words = []
    for segment in segments:
        decoder.start_utt()
        decoder.process_raw(segment, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        if hyp is not None and hyp.hypstr:
            words.append(hyp.hypstr)
    return " ".join(words)


def normalise(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav", type=Path, help="speech to recognise (PCM WAV)")
    parser.add_argument("reference", type=Path, help="UTF-8 reference text")
    args = parser.parse_args()

    pcm, seconds = load_pcm16k(args.wav)
    reference = args.reference.read_text(encoding="utf-8")
    if re.search(r"\d", reference):
        print("reference contains digits: write numbers as words", file=sys.stderr)
        return 2
    ref = normalise(reference)
    hyp = normalise(recognise(pcm))
    errors = edit_distance(ref, hyp)
    print(
        json.dumps(
            {
                "hyp": " ".join(hyp),
                "ref": " ".join(ref),
                "wer": errors / max(len(ref), 1),
                "words": len(ref),
                "errors": errors,
                "seconds": round(seconds, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
