// SPDX-License-Identifier: MPL-2.0
//! The TTS front end (text → sentences/clauses → espeak-ng → ids) on hostile text: arbitrary
//! Unicode, control characters, markup, emoji, right-to-left and CJK scripts (property-based,
//! with `proptest`), and degenerate long inputs. It never panics or fails, every id is one the
//! voice knows, and every chunk stays within the front end's length bounds, so a model run stays
//! bounded whatever the text.
//!
//! Bounds (see `neural_media::tts::text`): a clause is at most `2 × MAX_SENTENCE_CHARS`
//! characters (a run without spaces is cut there); a sentence ends after the clause that takes it
//! past `MAX_SENTENCE_CHARS`, so it is at most `3 × MAX_SENTENCE_CHARS + 1`.
//!
//! Needs the provisioned voice JSON: the tests fail when it is missing.

use neural_media::tts::text::MAX_SENTENCE_CHARS;
use neural_media::tts::{ChunkIds, Chunking, VoiceConfig, text_to_ids};
use proptest::prelude::*;

mod common;
use common::{Espeak, voice_config};

const CLAUSE_BOUND: usize = 2 * MAX_SENTENCE_CHARS;
const SENTENCE_BOUND: usize = 3 * MAX_SENTENCE_CHARS + 1;

/// Runs the front end with both chunkings and checks ids and lengths; returns the clause chunks.
fn check(text: &str, config: &VoiceConfig) -> Result<Vec<ChunkIds>, TestCaseError> {
    let count = config.id_count();
    let mut clauses = Vec::new();
    for (chunking, bound) in [
        (Chunking::Sentence, SENTENCE_BOUND),
        (Chunking::Clause, CLAUSE_BOUND),
    ] {
        let chunks = text_to_ids(text, config, &Espeak, chunking)
            .map_err(|e| TestCaseError::fail(format!("{chunking:?} on {text:?}: {e}")))?;
        for chunk in &chunks {
            prop_assert!(
                chunk.ids.ids.iter().all(|id| (0..count).contains(id)),
                "id out of 0..{count} for {:?}",
                chunk.text
            );
            prop_assert!(chunk.ids.mapped > 0, "empty chunk {:?}", chunk.text);
            let chars = chunk.text.chars().count();
            prop_assert!(
                chars <= bound,
                "{chunking:?} chunk of {chars} chars (bound {bound})"
            );
        }
        if chunking == Chunking::Clause {
            clauses = chunks;
        }
    }
    Ok(clauses)
}

/// Pieces of hostile text, glued together by the strategy below.
const FRAGMENTS: &[&str] = &[
    "Hello there.",
    " ",
    "\n\n",
    "\t",
    "\0",
    "\u{7}\u{1b}[31m",
    "\r\n",
    "\u{200b}\u{200d}\u{feff}",
    "\u{202e}evil\u{202c}",
    "<b>bold</b>",
    "<i>",
    "&amp;&lt;&#x1F600;&bogus;",
    "<font color=\"#ff0000\">red</font>",
    "😀👨‍👩‍👧‍👦🏳️‍🌈",
    "🇫🇷",
    "مرحبا بالعالم",
    "שלום עולם",
    "你好，世界。",
    "こんにちは。",
    "안녕하세요",
    "Привет, мир!",
    "e\u{301}\u{301}\u{301}",
    "Z\u{36b}\u{36c}\u{36d}\u{36e}a\u{36f}l\u{363}g\u{364}o",
    "3.50",
    "e.g.x",
    "Mr. and Mrs. Smith",
    "...",
    "…",
    "?!?!",
    ",,,;;;:::",
    "!!!",
    "1234567890",
    "$€£¥",
    "http://example.invalid/a?b=c&d=e",
    "ﬁ ｆｕｌｌｗｉｄｔｈ",
    "\u{fffd}",
    "\u{10ffff}",
];

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Anything Unicode allows, control characters included.
        any::<String>(),
        prop::collection::vec(any::<char>(), 0..200).prop_map(|c| c.into_iter().collect()),
        // Realistic mixtures.
        common::fragment_mixtures(FRAGMENTS),
        // Mixtures with arbitrary characters in between.
        common::fragments_and_chars(FRAGMENTS),
    ]
}

proptest! {
    #![proptest_config(common::hostile_cases())]

    #[test]
    fn hostile_text_never_panics_and_ids_stay_in_range(text in hostile_text()) {
        check(&text, &voice_config())?;
    }

    #[test]
    fn hostile_text_gives_word_marks_inside_the_text(text in hostile_text()) {
        check_marks(&text, &voice_config())?;
    }
}

/// Word marks of each clause chunk of `text` (with made-up durations: 1 to 3 frames per id, a
/// hop of 256): every mark's span is a slice of the chunk's text, in order, and maps back to a
/// slice of `text` (`SourceCursor`); visemes tile the samples.
fn check_marks(text: &str, config: &VoiceConfig) -> Result<(), TestCaseError> {
    use neural_media::tts::marks::{SourceCursor, chunk_marks};
    let mut chunks = text_to_ids(text, config, &Espeak, Chunking::Clause)
        .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
    let mut cursor = SourceCursor::new(text);
    for chunk in &mut chunks {
        chunk
            .find_words(config, &Espeak)
            .map_err(|e| TestCaseError::fail(format!("{:?}: {e}", chunk.text)))?;
        let frames: Vec<f32> = (0..chunk.ids.ids.len())
            .map(|i| (i % 3 + 1) as f32)
            .collect();
        let samples = frames.iter().sum::<f32>() as usize * 256;
        let marks = chunk_marks(
            &chunk.text,
            &chunk.phonemes,
            &chunk.words,
            &frames,
            samples,
            config,
        );
        let map = cursor.locate(&chunk.text);
        let mut end = 0;
        for w in &marks.words {
            prop_assert!(w.start < w.end && w.end <= chunk.text.len(), "{w:?}");
            prop_assert_eq!(chunk.text.get(w.start..w.end), Some(w.text.as_str()));
            prop_assert!(w.sample >= end && w.sample + w.len <= samples, "{w:?}");
            end = w.sample + w.len;
            let (a, b) = (map[w.start], map[w.end]);
            prop_assert!(
                a <= b && text.get(a..b).is_some(),
                "{w:?} -> {a}..{b} in {text:?}"
            );
        }
        let mut at = 0;
        for v in &marks.visemes {
            prop_assert_eq!(v.sample, at);
            at += v.len;
        }
        prop_assert_eq!(at, samples);
    }
    Ok(())
}

#[test]
fn every_fragment_alone_and_all_together() {
    let config = voice_config();
    for fragment in FRAGMENTS {
        check(fragment, &config).unwrap();
    }
    check(&FRAGMENTS.concat(), &config).unwrap();
}

#[test]
fn other_espeak_voices_on_foreign_scripts() {
    // The voice's map is English: other languages' phonemes are dropped, never out of range.
    let base = voice_config();
    for (voice, text) in [
        ("ar", "مرحبا بالعالم. كيف حالك؟"),
        ("he", "שלום עולם."),
        ("cmn", "你好，世界。今天天气很好！"),
        ("ja", "こんにちは。元気ですか？"),
        ("ru", "Привет, мир! Как дела?"),
    ] {
        let config = VoiceConfig {
            espeak_voice: voice.into(),
            ..base.clone()
        };
        check(text, &config).unwrap();
    }
}

#[test]
fn one_character_repeated_100_000_times_gives_bounded_chunks() {
    let config = voice_config();
    for c in ['a', '7', '我', '😀', '-', '.', '?', ',', ' ', '\u{301}'] {
        let text: String = std::iter::repeat_n(c, 100_000).collect();
        let clauses = check(&text, &config).unwrap();
        if c.is_alphanumeric() {
            assert!(
                clauses.len() >= 100_000 / CLAUSE_BOUND,
                "{c:?}: cut into {} chunks",
                clauses.len()
            );
        }
    }
}

#[test]
fn a_megabyte_without_punctuation_gives_bounded_chunks() {
    let config = voice_config();
    let words = ["alpha", "river", "stone", "garden", "yellow", "music"];
    let mut text = String::with_capacity(1_000_100);
    for word in words.iter().cycle() {
        if text.len() >= 1_000_000 {
            break;
        }
        text.push_str(word);
        text.push(' ');
    }
    let chunks = text_to_ids(&text, &config, &Espeak, Chunking::Sentence).unwrap();
    let longest = chunks.iter().map(|c| c.text.chars().count()).max().unwrap();
    assert!(
        longest <= MAX_SENTENCE_CHARS + 10,
        "unpunctuated text is cut at the first space past the limit: {longest} chars"
    );
    let total: usize = chunks.iter().map(|c| c.text.len() + 1).sum();
    assert!(total >= text.trim().len(), "no text lost: {total} bytes");
    let count = config.id_count();
    assert!(
        chunks
            .iter()
            .flat_map(|c| &c.ids.ids)
            .all(|id| (0..count).contains(id))
    );
}
