// SPDX-License-Identifier: MPL-2.0
//! SSML through the core with the real espeak-ng and the real voice: text in `<speak>` gives
//! exactly the ids of plain text (the piper oracle of `tests/data/tts_ids.json`), `phoneme`
//! gives exactly the ids of its IPA, hostile SSML (property-based, with `proptest`) never panics
//! and is never silent, and a `break`, `prosody rate` and `mark` land where they should in the
//! audio. Needs the provisioned voice: the tests fail when it is missing.

use neural_media::tts::ssml::{self, Segment, Step};
use neural_media::tts::{Chunking, Normalize, SynthesisConfig, Voice, VoiceConfig};
use proptest::prelude::*;

mod common;
use common::Espeak;

fn model_path() -> std::path::PathBuf {
    neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE)
}

fn voice_config() -> VoiceConfig {
    use std::sync::OnceLock;
    static CONFIG: OnceLock<VoiceConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut path = model_path().into_os_string();
            path.push(".json");
            VoiceConfig::load(path.as_ref())
                .unwrap_or_else(|e| panic!("voice JSON not provisioned: {e}"))
        })
        .clone()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The runs of a document: (phonemes, ids, sentence end).
fn runs(
    ssml_text: &str,
    config: &VoiceConfig,
    chunking: Chunking,
) -> Vec<(String, Vec<i64>, bool)> {
    let doc = ssml::parse(ssml_text);
    let (steps, _) = ssml::plan(&doc, config, &Espeak, chunking).unwrap();
    steps
        .into_iter()
        .filter_map(|s| match s {
            Step::Run { ids, .. } => Some((ids.phonemes, ids.ids.ids, ids.sentence_end)),
            _ => None,
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    voice: String,
    text: String,
}

#[test]
fn text_in_speak_gives_the_ids_of_plain_text() {
    let fixture: Fixture = serde_json::from_str(include_str!("data/tts_ids.json")).unwrap();
    let base = voice_config();
    let mut compared = 0;
    for case in &fixture.cases {
        // XML 1.0 has no place for other control characters.
        if case
            .text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            continue;
        }
        let config = VoiceConfig {
            espeak_voice: case.voice.clone(),
            ..base.clone()
        };
        for chunking in [Chunking::Sentence, Chunking::Clause] {
            let plain: Vec<(String, Vec<i64>, bool)> =
                neural_media::tts::text_to_ids(&case.text, &config, &Espeak, chunking)
                    .unwrap()
                    .into_iter()
                    .map(|c| (c.phonemes, c.ids.ids, c.sentence_end))
                    .collect();
            let document = format!("<speak>{}</speak>", escape(&case.text));
            assert_eq!(
                runs(&document, &config, chunking),
                plain,
                "{:?} {chunking:?}",
                case.text
            );
        }
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} cases compared");
}

#[test]
fn phoneme_gives_exactly_the_ids_of_its_ipa() {
    let config = voice_config();
    let ipa = "təmˈɑːtoʊ sˈuːp";
    // The ids by hand: ^ _ then each code point and _, then $.
    let id = |c: char| {
        config
            .ids(c)
            .unwrap_or_else(|| panic!("{c:?} not in the map"))[0]
    };
    let mut expected = vec![id('^'), id('_')];
    for c in ipa.chars() {
        expected.extend([id(c), id('_')]);
    }
    expected.push(id('$'));
    let document =
        format!("<speak><phoneme alphabet=\"ipa\" ph=\"{ipa}\">tomato soup</phoneme></speak>");
    let got = runs(&document, &config, Chunking::Sentence);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, expected);
    assert!(got[0].2, "the document's end ends the sentence");

    // Within a sentence: one run, the IPA's ids between the words' own.
    let around = runs(
        &format!("<speak>I like <phoneme alphabet=\"ipa\" ph=\"{ipa}\">x</phoneme> a lot.</speak>"),
        &config,
        Chunking::Sentence,
    );
    assert_eq!(around.len(), 1);
    let inner = &expected[2..expected.len() - 1];
    assert!(
        around[0].1.windows(inner.len()).any(|w| w == inner),
        "{:?}",
        around[0]
    );

    // A symbol the voice lacks is skipped, with a warning.
    let doc = ssml::parse("<speak><phoneme alphabet=\"ipa\" ph=\"tə\u{2a6}m\">x</phoneme></speak>");
    let (steps, warnings) = ssml::plan(&doc, &config, &Espeak, Chunking::Sentence).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains('\u{2a6}'));
    let Step::Run { ids, .. } = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        ids.ids.ids,
        [
            id('^'),
            id('_'),
            id('t'),
            id('_'),
            id('ə'),
            id('_'),
            id('m'),
            id('_'),
            id('$')
        ]
    );
}

#[test]
fn say_as_characters_speaks_letters() {
    let config = voice_config();
    let letters = runs(
        "<speak><say-as interpret-as=\"characters\">GST</say-as></speak>",
        &config,
        Chunking::Sentence,
    );
    let word = runs("<speak>GST</speak>", &config, Chunking::Sentence);
    // Three words (letter names), where the bare acronym is whatever espeak makes of it.
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].0.split(' ').count(), 3, "{letters:?}");
    assert_ne!(letters[0].0, word[0].0);
}

// --- Hostile input -------------------------------------------------------------------------

const FRAGMENTS: &[&str] = &[
    "<speak>",
    "</speak>",
    "<p>",
    "</p>",
    "<s>",
    "</s>",
    "Hello there.",
    " world ",
    "<break time=\"300ms\"/>",
    "<break strength=\"x-strong\"/>",
    "<break time=\"1e40s\"/>",
    "<break time=\"-5ms\"/>",
    "<prosody rate=\"x-slow\" volume=\"+90dB\">",
    "<prosody rate=\"0%\" pitch=\"+3st\">",
    "</prosody>",
    "<emphasis level=\"strong\">",
    "</emphasis>",
    "<sub alias=\"the alias\">",
    "</sub>",
    "<say-as interpret-as=\"characters\">",
    "<say-as interpret-as=\"date\" format=\"dmy\">",
    "<say-as interpret-as=\"telephone\">",
    "<say-as interpret-as=\"ordinal\">",
    "</say-as>",
    "<phoneme alphabet=\"ipa\" ph=\"həlˈoʊ ʭ😀\">",
    "<phoneme ph=\"\">",
    "</phoneme>",
    "<mark name=\"m\"/>",
    "<mark/>",
    "<lang xml:lang=\"fr\">",
    "<audio src=\"a.wav\"><desc>d</desc>",
    "</audio>",
    "<!-- comment -->",
    "<![CDATA[ cdata < text ]]>",
    "<!DOCTYPE speak [<!ENTITY e \"entity\">]>",
    "&e;",
    "&amp;&lt;&#x1F600;&bogus;",
    "<",
    ">",
    "&",
    "\"",
    "12/25/2024",
    "+1 555 0100",
    "😀",
    "\u{202e}",
    "你好。",
];

fn hostile_ssml() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|f| f.concat()),
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
                any::<char>().prop_map(String::from),
            ],
            0..60
        )
        .prop_map(|f| f.concat()),
    ]
}

/// Letters outside anything that looks like markup, by a naive scan.
fn has_bare_words(input: &str) -> bool {
    let mut depth = 0;
    let mut letters = 0;
    for c in input.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            c if depth == 0 && c.is_ascii_alphabetic() => {
                letters += 1;
                if letters >= 2 {
                    return true;
                }
            }
            _ => letters = 0,
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_ssml_never_panics_is_never_silent_and_ids_stay_in_range(input in hostile_ssml()) {
        let config = voice_config();
        let doc = ssml::parse(&input);
        for chunking in [Chunking::Sentence, Chunking::Clause] {
            let (steps, _) = ssml::plan(&doc, &config, &Espeak, chunking)
                .map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
            let count = config.id_count();
            for step in &steps {
                match step {
                    Step::Run { ids, prosody } => {
                        prop_assert!(ids.ids.ids.iter().all(|id| (0..count).contains(id)));
                        prop_assert!(ids.ids.mapped > 0);
                        prop_assert!(ids.phonemes.chars().count() <= 4 * 400 + 8);
                        prop_assert!(prosody.length.is_finite() && prosody.length > 0.0);
                        prop_assert!(prosody.volume.is_finite() && prosody.volume >= 0.0);
                    }
                    Step::Silence(s) => prop_assert!(s.is_finite() && *s > 0.0 && *s <= 10.0),
                    Step::Mark(_) => {}
                }
            }
            let malformed = doc.warnings.iter().any(|w| w.malformed);
            if malformed && has_bare_words(&input) {
                prop_assert!(
                    steps.iter().any(|s| matches!(s, Step::Run { .. })),
                    "malformed {input:?} gave no speech"
                );
            }
        }
    }
}

#[test]
fn every_fragment_alone_and_all_together() {
    let config = voice_config();
    for input in FRAGMENTS
        .iter()
        .map(|f| f.to_string())
        .chain([FRAGMENTS.concat()])
    {
        let doc = ssml::parse(&input);
        ssml::plan(&doc, &config, &Espeak, Chunking::Sentence).unwrap();
    }
}

// --- The voice -----------------------------------------------------------------------------

fn voice() -> Voice {
    Voice::load(&model_path(), None, &Default::default())
        .unwrap_or_else(|e| panic!("the default voice must be provisioned: {e}"))
}

fn deterministic(voice: &Voice) -> SynthesisConfig {
    SynthesisConfig {
        noise_scale: 0.0,
        noise_w: 0.0,
        normalize: Normalize::Off,
        ..voice.default_synthesis_config()
    }
}

fn speak(voice: &mut Voice, document: &str) -> ssml::SsmlSpeech {
    let doc = ssml::parse(document);
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
    let config = deterministic(voice);
    let (steps, _) = ssml::plan(&doc, voice.config(), &Espeak, config.chunking).unwrap();
    voice
        .synthesize_ssml(&steps, &config, || true)
        .unwrap()
        .unwrap()
}

#[test]
fn break_rate_and_mark_in_the_audio() {
    let mut voice = voice();
    let rate = voice.sample_rate() as usize;
    // A break between sentences adds exactly its length.
    let plain = speak(
        &mut voice,
        "<speak>First sentence. Second sentence.</speak>",
    );
    let broken = speak(
        &mut voice,
        "<speak>First sentence. <break time=\"1500ms\"/>Second sentence.</speak>",
    );
    assert_eq!(
        broken.speech.samples.len() - plain.speech.samples.len(),
        rate * 3 / 2
    );
    // Within a sentence: the two halves are spoken apart (their own pauses at the cut trimmed),
    // which changes their length a little (measured -0.12..+0.12 s on eight sentences).
    let whole = speak(&mut voice, "<speak>Hello world.</speak>");
    let split = speak(
        &mut voice,
        "<speak>Hello <break time=\"1500ms\"/>world.</speak>",
    );
    let delta = split.speech.samples.len() as f64 / rate as f64
        - whole.speech.samples.len() as f64 / rate as f64;
    eprintln!("break inside a sentence: +{delta:.3} s");
    assert!((delta - 1.5).abs() < 0.15, "{delta}");
    let first = &split.speech.chunks[0];
    let silence = &split.speech.samples[first.start + first.len..][..rate * 3 / 2];
    assert!(silence.iter().all(|&s| s == 0.0));

    // Slow speech is longer.
    let slow = speak(
        &mut voice,
        "<speak><prosody rate=\"slow\">Hello world.</prosody></speak>",
    );
    assert!(
        slow.speech.samples.len() as f64 > 1.1 * whole.speech.samples.len() as f64,
        "{} vs {}",
        slow.speech.samples.len(),
        whole.speech.samples.len()
    );

    // A mark between two words: at the end of the first half.
    let marked = speak(&mut voice, "<speak>Hello <mark name=\"x\"/>world.</speak>");
    assert_eq!(marked.marks.len(), 1);
    assert_eq!(marked.marks[0].name, "x");
    assert_eq!(marked.marks[0].offset, marked.speech.chunks[1].start);
    assert_eq!(
        ssml::parse("<speak>Hello <mark name=\"x\"/>world.</speak>").segments[1],
        Segment::Mark("x".into())
    );
}
