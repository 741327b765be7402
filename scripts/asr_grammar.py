#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Which of a few alternatives a recogniser hears in a WAV file (pocketsphinx with a grammar).

    .venv/bin/python scripts/asr_grammar.py SPEECH.wav "g s t" "gist" "just" ...

Prints one JSON object: {"hyp": ..., "alternatives": [...]}; "hyp" is the alternative
pocketsphinx 5.1.1 (PyPI, the en-us acoustic model and dictionary its wheel bundles) decodes the
whole file as, under a JSGF grammar whose only sentences are the alternatives (each a sequence of
dictionary words; single letters are words: "g" is JH IY), or "" when it decodes nothing.
Free recognition of spelled letters is unreliable, a choice among a few is not: pass the expected
reading together with its likely confusions.

Audio is read and brought to 16 kHz mono S16 as in scripts/asr_wer.py. Used by
plugins/tts/tests/ssml.rs; scripts/setup.sh installs the requirements.
"""

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asr_wer import RATE, load_pcm16k  # noqa: E402


def grammar(alternatives: list[str]) -> str:
    for alt in alternatives:
        if not re.fullmatch(r"[a-z' ]+", alt):
            raise SystemExit(f"alternative {alt!r}: lower-case dictionary words only")
    body = " | ".join(f"( {alt} )" for alt in alternatives)
    return f"#JSGF V1.0;\ngrammar choice;\npublic <utterance> = {body};\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav", type=Path, help="speech to recognise (PCM WAV)")
    parser.add_argument("alternatives", nargs="+", help="what it may say")
    args = parser.parse_args()

    from pocketsphinx import Decoder

    pcm, _ = load_pcm16k(args.wav)
    decoder = Decoder(samprate=RATE, loglevel="FATAL", jsgf=None, lm=None)
    decoder.add_jsgf_string("choice", grammar(args.alternatives))
    decoder.activate_search("choice")
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    print(json.dumps({"hyp": hyp.hypstr if hyp else "", "alternatives": args.alternatives}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
