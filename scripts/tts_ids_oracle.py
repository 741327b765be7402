#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Oracle for the TTS front end: piper-tts 1.8's text -> phoneme ids, on Debian's espeak-ng.

Writes tests/data/tts_ids.json, which tests/tts_frontend.rs compares with the Rust front end.

How it works (independent from the Rust code, which splits clauses itself):

* espeak-ng is Debian's /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1 (1.51), called through
  ctypes: espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT),
  espeak_SetVoiceByName, and espeak_TextToPhonemes(&ptr, espeakCHARS_UTF8, espeakPHONEMES_IPA)
  in a loop until ptr is NULL -- espeak-ng itself decides where clauses end, as in piper.
* piper 1.8 reads each clause's punctuation with espeak_TextToPhonemesWithTerminator, which 1.51
  lacks. The terminator is recovered from the text espeak consumed for the clause: espeak reads
  one character of the next clause ahead, so that character is dropped, trailing spaces are
  stripped, and the clause ends on . ? ! , : ; (a run of ?/! counts as its first character, two
  or more dots are an ellipsis: no terminator), else on nothing. . ? ! and the end of the text
  end a sentence. This is what piper's espeakbridge.c maps espeak's clause types to.
* The rest is piper 1.8 verbatim (piper/phonemize_espeak.py, piper/phoneme_ids.py): remove
  "(xx)" language flags, append the terminator (and a space after , : ;), NFD, one phoneme per
  code point, ids = ^ _ (p _)* $ through the voice's phoneme_id_map, unknown phonemes dropped;
  empty sentences are skipped.

Run from the repository root:  python3 scripts/tts_ids_oracle.py
(the voice JSON is data/models/tts/en_US-joe-medium.onnx.json).
"""

import ctypes
import json
import re
import sys
import unicodedata
from pathlib import Path

LIBRARY = "/usr/lib/x86_64-linux-gnu/libespeak-ng.so.1"
AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
ESPEAK_CHARS_UTF8 = 1
ESPEAK_PHONEMES_IPA = 0x02

ROOT = Path(__file__).resolve().parent.parent
VOICE_JSON = ROOT / "data/models/tts/en_US-joe-medium.onnx.json"
FIXTURE = ROOT / "tests/data/tts_ids.json"

LONG_COMMAS = (
    "When the morning train finally pulled into the station, nearly two hours late, the "
    "passengers, who had been waiting on the cold platform since dawn, gathered their bags, "
    "their children and their patience, and climbed aboard without a word of complaint, "
    "because, as everyone knew, there would not be another one until the evening."
)
LONG_PLAIN = (
    "the old lighthouse keeper walked slowly along the rocky shore every single evening "
    "looking for pieces of driftwood and lost treasures that the restless sea had carried "
    "in from distant places he would never visit and he kept all of them in a wooden chest "
    "beside his bed because each one reminded him that the world was much larger than his "
    "little island"
)

# (espeak voice, text)
CASES = [
    ("en-us", "Hello world."),
    ("en-us", "It costs $3.50 on 12 May 2024."),
    ("en-us", "Dr. Smith lives at 221B Baker Street."),
    ("en-us", "Wait, what? Yes! No: maybe; okay."),
    ("en-us", "Mr. and Mrs. Jones arrived at 5 p.m. yesterday."),
    ("en-us", "Really?! I can't believe it!!!"),
    ("en-us", "The café's naïve über-chef served crème brûlée."),
    ("en-us", LONG_COMMAS),
    ("en-us", LONG_PLAIN),
    ("en-us", "  Multiple   spaces\tand\nnewlines here.  "),
    ("en-us", "No final punctuation"),
    ("en-us", "Numbers: 1, 2, 3; and 4.5 percent."),
    ("en-us", 'She said "hello" (quietly) and left.'),
    ("en-us", "The U.S.A. is big. Is it? Yes."),
    ("fr", "Le chat est sur la table, n'est-ce pas? Oui."),
    ("de", "Guten Tag! Wie geht es Ihnen?"),
    ("ja", "こんにちは"),
]


class Espeak:
    def __init__(self) -> None:
        lib = ctypes.CDLL(LIBRARY)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        if lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, ESPEAK_INITIALIZE_DONT_EXIT) < 0:
            raise RuntimeError("espeak_Initialize failed")
        self.lib = lib

    def clauses(self, voice: str, text: str) -> list[tuple[str, str, bool]]:
        """(phonemes, terminator, end_of_sentence) per clause, like piper's espeakbridge."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"no espeak voice {voice}")
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        base = ctypes.addressof(buf)
        ptr = ctypes.c_void_p(base)
        out = []
        prev = 0
        while ptr.value is not None:
            phonemes = self.lib.espeak_TextToPhonemes(
                ctypes.byref(ptr), ESPEAK_CHARS_UTF8, ESPEAK_PHONEMES_IPA
            )
            last = ptr.value is None
            end = len(data) if last else ptr.value - base
            consumed = data[prev:end].decode("utf-8")
            prev = end
            if not last:
                consumed = consumed[:-1]  # espeak's one character of look-ahead
            terminator = terminator_of(consumed.rstrip())
            end_of_sentence = terminator in (".", "?", "!") or last
            out.append(((phonemes or b"").decode("utf-8"), terminator, end_of_sentence))
        return out


def terminator_of(clause: str) -> str:
    if not clause:
        return ""
    if clause[-1] in "?!":
        i = len(clause)
        while i > 0 and clause[i - 1] in "?!":
            i -= 1
        return clause[i]
    if clause[-1] == ".":
        return "" if clause.endswith("..") else "."
    if clause[-1] in ",:;":
        return clause[-1]
    return ""


def piper_phonemize(espeak: Espeak, voice: str, text: str) -> list[list[str]]:
    """piper/phonemize_espeak.py EspeakPhonemizer.phonemize, minus vowel clusters."""
    all_phonemes: list[list[str]] = []
    sentence_phonemes: list[str] = []
    for phonemes_str, terminator_str, end_of_sentence in espeak.clauses(voice, text):
        phonemes_str = re.sub(r"\([^)]+\)", "", phonemes_str)
        phonemes_str += terminator_str
        if terminator_str in (",", ":", ";"):
            phonemes_str += " "
        sentence_phonemes.extend(list(unicodedata.normalize("NFD", phonemes_str)))
        if end_of_sentence:
            all_phonemes.append(sentence_phonemes)
            sentence_phonemes = []
    if sentence_phonemes:
        all_phonemes.append(sentence_phonemes)
    # PiperVoice.synthesize skips empty sentences.
    return [p for p in all_phonemes if p]


def phonemes_to_ids(phonemes: list[str], id_map: dict[str, list[int]]) -> tuple[list[int], int]:
    """piper/phoneme_ids.py phonemes_to_ids, also counting dropped phonemes."""
    ids = list(id_map["^"]) + list(id_map["_"])
    dropped = 0
    for phoneme in phonemes:
        if phoneme not in id_map:
            dropped += 1
            continue
        ids.extend(id_map[phoneme])
        ids.extend(id_map["_"])
    ids.extend(id_map["$"])
    return ids, dropped


def main() -> int:
    id_map = json.loads(VOICE_JSON.read_text(encoding="utf-8"))["phoneme_id_map"]
    espeak = Espeak()
    cases = []
    for voice, text in CASES:
        sentences = []
        for phonemes in piper_phonemize(espeak, voice, text):
            ids, dropped = phonemes_to_ids(phonemes, id_map)
            sentences.append({"phonemes": "".join(phonemes), "ids": ids, "dropped": dropped})
        cases.append({"voice": voice, "text": text, "sentences": sentences})
    fixture = {
        "about": (
            "Generated by scripts/tts_ids_oracle.py: piper-tts 1.8's phonemize + phonemes_to_ids "
            "reimplemented in Python over Debian's libespeak-ng 1.51 (ctypes), clause ends "
            "decided by espeak-ng itself; ids through data/models/tts/en_US-joe-medium.onnx.json. "
            "Regenerate with: python3 scripts/tts_ids_oracle.py"
        ),
        "voice_config": "data/models/tts/en_US-joe-medium.onnx.json",
        "cases": cases,
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({len(cases)} cases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
