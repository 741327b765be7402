// SPDX-License-Identifier: MPL-2.0
//! The TTS front end (text → clauses → espeak-ng → ids) against piper's algorithm.
//!
//! `tests/data/tts_ids.json` is produced by `scripts/tts_ids_oracle.py`: piper-tts 1.8's
//! phonemize + phonemes_to_ids reimplemented in Python over Debian's libespeak-ng (ctypes), with
//! espeak-ng itself deciding where clauses end. The Rust front end splits clauses on its own, so
//! agreement checks both the splitter and the id mapping. Needs the provisioned voice JSON: the
//! test fails when it is missing.

use neural_media::tts::{Chunking, VoiceConfig, text_to_ids};

mod common;
use common::{Espeak, voice_config};

#[test]
fn ids_match_the_piper_oracle() {
    let fixture = common::ids_oracle();
    assert!(fixture.cases.len() >= 10);
    let base = voice_config();
    let mut mismatches = Vec::new();
    for case in &fixture.cases {
        let config = VoiceConfig {
            espeak_voice: case.voice.clone(),
            ..base.clone()
        };
        let got = text_to_ids(&case.text, &config, &Espeak, Chunking::Sentence).unwrap();
        let got_view: Vec<(&str, &[i64], usize)> = got
            .iter()
            .map(|c| (c.phonemes.as_str(), c.ids.ids.as_slice(), c.ids.dropped))
            .collect();
        let want_view: Vec<(&str, &[i64], usize)> = case
            .sentences
            .iter()
            .map(|s| (s.phonemes.as_str(), s.ids.as_slice(), s.dropped))
            .collect();
        if got_view != want_view {
            mismatches.push(format!(
                "{:?} ({}):\n  got  {:?}\n  want {:?}",
                case.text,
                case.voice,
                got_view.iter().map(|g| g.0).collect::<Vec<_>>(),
                want_view.iter().map(|w| w.0).collect::<Vec<_>>()
            ));
        }
        let count = config.id_count();
        assert!(
            got.iter()
                .flat_map(|c| &c.ids.ids)
                .all(|id| (0..count).contains(id))
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from the oracle:\n{}",
        mismatches.len(),
        fixture.cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn clause_chunking_concatenates_to_the_sentence() {
    let config = voice_config();
    let text = "Wait, what? Yes! No: maybe; okay.";
    let sentences = text_to_ids(text, &config, &Espeak, Chunking::Sentence).unwrap();
    let clauses = text_to_ids(text, &config, &Espeak, Chunking::Clause).unwrap();
    assert_eq!(clauses.len(), 6);
    assert_eq!(
        clauses.iter().filter(|c| c.sentence_end).count(),
        sentences.len()
    );
    let joined: String = clauses.iter().map(|c| c.phonemes.as_str()).collect();
    let whole: String = sentences.iter().map(|s| s.phonemes.as_str()).collect();
    assert_eq!(joined, whole);
}

#[test]
fn unknown_characters_and_empty_text() {
    let config = voice_config();
    assert!(
        text_to_ids("", &config, &Espeak, Chunking::Sentence)
            .unwrap()
            .is_empty()
    );
    assert!(
        text_to_ids(" \n\t ... ", &config, &Espeak, Chunking::Sentence)
            .unwrap()
            .is_empty()
    );
    // Japanese through an English voice: espeak gives diacritics (U+031E, U+0308) that the
    // voice's map lacks: dropped and counted, every id still in range.
    let ja = VoiceConfig {
        espeak_voice: "ja".into(),
        ..config.clone()
    };
    let chunks = text_to_ids("こんにちは", &ja, &Espeak, Chunking::Sentence).unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].ids.dropped, 2);
    assert!(chunks[0].ids.mapped > 5);
    let count = config.id_count();
    assert!(chunks[0].ids.ids.iter().all(|id| (0..count).contains(id)));
}
