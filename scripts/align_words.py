#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Word onsets in speech by forced alignment with pocketsphinx: an aligner independent of the
voice, to check the TTS's word marks against.

    .venv/bin/python scripts/align_words.py SPEECH.wav SEGMENTS.json

SEGMENTS.json is a list of {"start": s, "end": s, "text": "..."}: stretches of the WAV (seconds)
and the words said in each. Each stretch is cut out (with 100 ms of the audio around it; the file is padded with silence) and aligned on its own with pocketsphinx 5.1.1's alignment mode
(`Decoder.set_align_text`, the en-us acoustic model and dictionary its wheel ships; 10 ms frames).
Prints one JSON list: {"word", "start", "end"} per aligned word, in seconds from the file's start,
silences and fillers left out. Text is lowercased and stripped of punctuation (apostrophes inside
words kept); every word must be in the dictionary (no digits).

The audio is mixed down and resampled to 16 kHz as scripts/asr_wer.py does.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asr_wer import RATE, normalise, read_wav, resample, to_s16  # noqa: E402

FRAME = 0.01
MARGIN = 0.1


def align(decoder, pcm: bytes, text: str) -> list[tuple[str, float, float]]:
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    words = []
    for seg in decoder.seg():
        word = seg.word
        if word.startswith("<") or word.startswith("[") or word == "(NULL)":
            continue
        word = word.split("(")[0]  # pronunciation variants: word(2)
        words.append((word, seg.start_frame * FRAME, (seg.end_frame + 1) * FRAME))
    return words


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    samples, rate = read_wav(Path(sys.argv[1]))
    samples = resample(samples, rate, RATE)
    segments = json.loads(Path(sys.argv[2]).read_text())
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=RATE, loglevel="FATAL")
    # Silence around the file, so that every stretch has its margin.
    pad = int(MARGIN * RATE)
    samples = np.concatenate([np.zeros(pad, np.float32), samples, np.zeros(pad, np.float32)])
    out = []
    for segment in segments:
        start = segment["start"] - MARGIN
        end = segment["end"] + MARGIN
        pcm = to_s16(samples[int((start + MARGIN) * RATE) : int((end + MARGIN) * RATE)])
        text = " ".join(normalise(segment["text"]))
        for word, s, e in align(decoder, pcm, text):
            out.append({"word": word, "start": round(start + s, 4), "end": round(start + e, 4)})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
