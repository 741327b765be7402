// SPDX-License-Identifier: MPL-2.0
//! Speech marks on the real voice with its durations output (`en_US-joe-medium-durations`,
//! derived at set-up) and the real espeak-ng: the derived voice sounds the same, words map back
//! to the source text (merged and expanded words), visemes cover the audio.

use std::ops::ControlFlow;

use neural_media::assets::{DEFAULT_VOICE, PROVISIONED_VOICE, data_file};
use neural_media::tts::{Chunk, Normalize, SynthesisConfig, Voice};

mod common;
use common::Espeak;

fn load(relative: &str) -> Voice {
    Voice::load(&data_file(relative), None, &Default::default())
        .unwrap_or_else(|e| panic!("{relative} must be provisioned (scripts/setup.sh): {e}"))
}

fn config(voice: &Voice) -> SynthesisConfig {
    SynthesisConfig {
        noise_scale: 0.0,
        noise_w: 0.0,
        normalize: Normalize::Off,
        sentence_silence: 0.0,
        word_marks: true,
        ..voice.default_synthesis_config()
    }
}

fn chunks(voice: &mut Voice, text: &str) -> Vec<Chunk> {
    let config = config(voice);
    let mut out = Vec::new();
    voice
        .synthesize(text, &config, &Espeak, |c| {
            out.push(c);
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[test]
fn the_derived_voice_sounds_the_same_and_gives_marks() {
    let mut derived = load(DEFAULT_VOICE);
    let mut original = load(PROVISIONED_VOICE);
    assert!(derived.has_durations());
    assert!(!original.has_durations());
    let text = "Hello world. It costs 3.50, said Mr. Smith.";
    let with = chunks(&mut derived, text);
    let without = chunks(&mut original, text);
    assert_eq!(with.len(), without.len());
    for (a, b) in with.iter().zip(&without) {
        assert_eq!(
            a.samples, b.samples,
            "the second output leaves the audio as it is"
        );
        assert!(b.marks.is_none());
        let marks = a.marks.as_ref().expect("marks from the durations");
        // The visemes tile the whole run: the durations times the hop length are its samples.
        assert_eq!(marks.visemes[0].sample, 0);
        for pair in marks.visemes.windows(2) {
            assert_eq!(pair[0].sample + pair[0].len, pair[1].sample, "{pair:?}");
        }
        let last = marks.visemes.last().unwrap();
        assert_eq!(last.sample + last.len, a.samples.len());
        // Words in order, inside the audio, each the source text it says.
        for w in &marks.words {
            assert_eq!(w.text, &text[w.start..w.end]);
            assert!(w.len > 0 && w.sample + w.len <= a.samples.len(), "{w:?}");
        }
        for pair in marks.words.windows(2) {
            assert!(pair[0].sample + pair[0].len <= pair[1].sample, "{pair:?}");
        }
    }
    let words: Vec<&str> = with
        .iter()
        .flat_map(|c| {
            c.marks
                .as_ref()
                .unwrap()
                .words
                .iter()
                .map(|w| w.text.as_str())
        })
        .collect();
    assert_eq!(&words[..2], ["Hello", "world"]);
    assert!(
        words.iter().filter(|w| **w == "3.50").count() >= 2,
        "{words:?}"
    );
    assert!(
        words.contains(&"Mr") && words.contains(&"Smith"),
        "{words:?}"
    );
}

#[test]
fn merged_words_cover_all_their_source_words() {
    let mut voice = load(DEFAULT_VOICE);
    let text = "We went out of the house at the end of the day.";
    let marks = chunks(&mut voice, text).remove(0).marks.unwrap();
    let words: Vec<(&str, usize)> = marks
        .words
        .iter()
        .map(|w| (w.text.as_str(), w.words))
        .collect();
    // espeak-ng (Debian's 1.51) says "out of" as one word and "of the" as another.
    assert!(words.contains(&("out of", 2)), "{words:?}");
    assert!(words.contains(&("of the", 2)), "{words:?}");
    // Every source word is in some mark.
    let covered = |at: usize| marks.words.iter().any(|w| w.start <= at && at < w.end);
    for (start, _) in neural_media::tts::marks::source_words(text) {
        assert!(
            covered(start),
            "{:?} has no mark: {words:?}",
            &text[start..]
        );
    }
}

/// The paragraph of the benchmark: every source word is covered by a mark; how many marks
/// cover more than one source word (espeak-ng merged them) is printed.
#[test]
fn paragraph_marks_cover_every_word() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/paragraph.txt"
    ))
    .unwrap();
    let mut voice = load(DEFAULT_VOICE);
    let config = config(&voice);
    let mut marks = Vec::new();
    let mut spoken = 0;
    voice
        .synthesize(&text, &config, &Espeak, |c| {
            spoken += 1;
            marks.extend(c.marks.unwrap().words);
            ControlFlow::Continue(())
        })
        .unwrap();
    let sources =
        neural_media::tts::marks::source_words(&neural_media::tts::text::normalize(&text));
    let covered = |at: usize| marks.iter().any(|w| w.start <= at && at < w.end);
    let mut missing = Vec::new();
    let mut cursor = neural_media::tts::marks::SourceCursor::new(&text);
    let map = cursor.locate(&neural_media::tts::text::normalize(&text));
    for (start, end) in &sources {
        if !covered(map[*start]) {
            missing.push(&text[map[*start]..map[*end]]);
        }
    }
    assert!(missing.is_empty(), "words without a mark: {missing:?}");
    let merged: Vec<&str> = marks
        .iter()
        .filter(|w| w.words > 1)
        .map(|w| w.text.as_str())
        .collect();
    println!(
        "paragraph.txt: {} chunks, {} source words, {} word marks, {} covering more than one \
         source word: {merged:?}",
        spoken,
        sources.len(),
        marks.len(),
        merged.len()
    );
    // Merging is the exception: espeak-ng joins only short function words.
    assert!(merged.len() * 10 < marks.len(), "{merged:?}");
}
