// SPDX-License-Identifier: MPL-2.0
//! SSML through the core with the real espeak-ng and the real voice: text in `<speak>` gives
//! exactly the ids of plain text (the piper oracle of `tests/data/tts_ids.json`), `phoneme`
//! gives exactly the ids of its IPA, hostile SSML (property-based, with `proptest`) never panics
//! and is never silent, and a `break`, `prosody rate` and `mark` land where they should in the
//! audio. Needs the provisioned voice: the tests fail when it is missing.

use neural_media::tts::marks::WordMark;
use neural_media::tts::ssml::{self, Segment, Step};
use neural_media::tts::{Chunking, SynthesisConfig, Voice, VoiceConfig};
use proptest::prelude::*;

mod common;
use common::{Espeak, deterministic, voice, voice_config};

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
    let (steps, _) = ssml::plan(&doc, config, &Espeak, chunking, true).unwrap();
    steps
        .into_iter()
        .filter_map(|s| match s {
            Step::Run { ids, .. } => Some((ids.phonemes, ids.ids.ids, ids.sentence_end)),
            _ => None,
        })
        .collect()
}

#[test]
fn text_in_speak_gives_the_ids_of_plain_text() {
    let fixture = common::ids_oracle();
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
    let (steps, warnings) = ssml::plan(&doc, &config, &Espeak, Chunking::Sentence, true).unwrap();
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
        common::fragment_mixtures(FRAGMENTS),
        common::fragments_and_chars(FRAGMENTS),
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
    #![proptest_config(common::hostile_cases())]

    #[test]
    fn hostile_ssml_never_panics_is_never_silent_and_ids_stay_in_range(input in hostile_ssml()) {
        let config = voice_config();
        let doc = ssml::parse(&input);
        for (chunking, durations) in [
            (Chunking::Sentence, true),
            (Chunking::Sentence, false),
            (Chunking::Clause, true),
        ] {
            let (steps, _) = ssml::plan(&doc, &config, &Espeak, chunking, durations)
                .map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
            let count = config.id_count();
            let mut marks = Vec::new();
            for step in &steps {
                match step {
                    Step::Run { ids, prosody, inside } => {
                        prop_assert!(ids.ids.ids.iter().all(|id| (0..count).contains(id)));
                        prop_assert!(ids.ids.mapped > 0);
                        prop_assert!(ids.phonemes.chars().count() <= 4 * 400 + 8);
                        prop_assert!(prosody.length.is_finite() && prosody.length > 0.0);
                        prop_assert!(prosody.volume.is_finite() && prosody.volume >= 0.0);
                        prop_assert!(durations || inside.is_empty());
                        // Inside the run, between its first and last phonemes, in order.
                        prop_assert!(inside.windows(2).all(|w| w[0].0 <= w[1].0));
                        for (id, step) in inside {
                            prop_assert!(*id >= 2 && *id < ids.ids.ids.len(), "{id}");
                            match step {
                                Step::Silence(s) => prop_assert!(s.is_finite() && *s > 0.0),
                                Step::Mark(name) => marks.push(name.as_str()),
                                Step::Run { .. } => prop_assert!(false, "a run in a run"),
                            }
                        }
                    }
                    Step::Silence(s) => prop_assert!(s.is_finite() && *s > 0.0 && *s <= 10.0),
                    Step::Mark(name) => marks.push(name.as_str()),
                }
            }
            // No mark is lost or moved out of order.
            prop_assert_eq!(marks, doc.marks());
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
        ssml::plan(&doc, &config, &Espeak, Chunking::Sentence, true).unwrap();
    }
}

// --- The voice -----------------------------------------------------------------------------

fn speak(voice: &mut Voice, document: &str) -> ssml::SsmlSpeech {
    let doc = ssml::parse(document);
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
    let config = deterministic(voice);
    let durations = voice.has_durations();
    let (steps, _) = ssml::plan(&doc, voice.config(), &Espeak, config.chunking, durations).unwrap();
    voice
        .synthesize_ssml(&steps, &config, || true)
        .unwrap()
        .unwrap()
}

/// Sentences with a `break` or `mark` between two words: (before, after).
const MID_SENTENCE: [(&str, &str); 5] = [
    ("Hello", "world."),
    ("Please wait", "while we connect you."),
    ("Good morning", "everybody, and welcome."),
    ("The train to Boston", "leaves from platform four."),
    ("She sells sea shells", "by the sea shore."),
];

/// The word marks of plain `text` (one sentence), in samples.
fn word_marks(voice: &mut Voice, text: &str) -> Vec<WordMark> {
    let config = SynthesisConfig {
        word_marks: true,
        ..deterministic(voice)
    };
    let mut words = Vec::new();
    voice
        .synthesize(text, &config, &Espeak, |chunk| {
            words.extend(chunk.marks.expect("durations").words);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(
        words.len(),
        text.split(' ').count(),
        "{text}: one phoneme word per word"
    );
    words
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
    // Within a sentence (the voice has durations): still one run, the silence inserted at the
    // word boundary.
    assert!(voice.has_durations());
    let whole = speak(&mut voice, "<speak>Hello world.</speak>");
    for (before, after) in MID_SENTENCE {
        let text = format!("{before} {after}");
        let plain = speak(&mut voice, &format!("<speak>{text}</speak>"));
        let split = speak(
            &mut voice,
            &format!("<speak>{before} <break time=\"1500ms\"/>{after}</speak>"),
        );
        assert_eq!(split.speech.chunks.len(), 1, "{text}: one run");
        let delta =
            (split.speech.samples.len() as f64 - plain.speech.samples.len() as f64) / rate as f64;
        // Where the silence is, and the words of the same text around it.
        let n = rate * 3 / 2;
        let samples = &split.speech.samples;
        let cut = (0..samples.len().saturating_sub(n))
            .find(|&i| samples[i..i + n].iter().all(|&s| s == 0.0))
            .unwrap_or_else(|| panic!("{text}: no 1.5 s of silence"));
        let words = word_marks(&mut voice, &text);
        let last_before = before.split(' ').count() - 1;
        let (prev, next) = (&words[last_before], &words[last_before + 1]);
        eprintln!(
            "break inside {text:?}: +{delta:.4} s; cut {:.4} s, between {:?} (ends {:.4} s) and {:?} \
             (starts {:.4} s)",
            cut as f64 / rate as f64,
            prev.text,
            (prev.sample + prev.len) as f64 / rate as f64,
            next.text,
            next.sample as f64 / rate as f64,
        );
        assert!((delta - 1.5).abs() <= 0.02, "{text}: +{delta} s");
        // The same run as without the break (the same ids): the same audio, with the silence
        // in it.
        let mut expected = plain.speech.samples.clone();
        expected.splice(cut..cut, std::iter::repeat_n(0.0, n));
        assert_eq!(samples.len(), expected.len());
        let diff = samples
            .iter()
            .zip(&expected)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff < 1e-4,
            "{text}: the speech around the break differs by {diff}"
        );
        // At the word boundary (the word marks' frames, 3 ms to spare).
        let slack = rate * 3 / 1000;
        assert!(
            prev.sample + prev.len <= cut + slack && cut <= next.sample + slack,
            "{text}: the silence at {cut} is not between {prev:?} and {next:?}"
        );
    }

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

    // A mark between two words: one run, the mark at the boundary between them.
    for (before, after) in MID_SENTENCE {
        let text = format!("{before} {after}");
        let marked = speak(
            &mut voice,
            &format!("<speak>{before} <mark name=\"x\"/>{after}</speak>"),
        );
        assert_eq!(marked.speech.chunks.len(), 1, "{text}: one run");
        assert_eq!(marked.marks.len(), 1);
        assert_eq!(marked.marks[0].name, "x");
        let at = marked.marks[0].offset;
        let words = word_marks(&mut voice, &text);
        let last_before = before.split(' ').count() - 1;
        let (prev, next) = (&words[last_before], &words[last_before + 1]);
        eprintln!(
            "mark in {text:?} at {:.4} s: {:?} ends {:.4} s, {:?} starts {:.4} s",
            at as f64 / rate as f64,
            prev.text,
            (prev.sample + prev.len) as f64 / rate as f64,
            next.text,
            next.sample as f64 / rate as f64,
        );
        let slack = rate * 3 / 1000;
        assert!(
            prev.sample + prev.len <= at + slack && at <= next.sample + slack,
            "{text}: the mark at {at} is not between {prev:?} and {next:?}"
        );
        // A mark adds nothing to the audio.
        let plain = speak(&mut voice, &format!("<speak>{text}</speak>"));
        assert_eq!(marked.speech.samples, plain.speech.samples, "{text}");
    }
    assert_eq!(
        ssml::parse("<speak>Hello <mark name=\"x\"/>world.</speak>").segments[1],
        Segment::Mark("x".into())
    );
}

#[test]
fn without_durations_a_break_inside_a_sentence_cuts_it() {
    let path = neural_media::assets::data_file(neural_media::assets::PROVISIONED_VOICE);
    let mut voice = Voice::load(&path, None, &Default::default())
        .unwrap_or_else(|e| panic!("the provisioned voice: {e}"));
    assert!(!voice.has_durations());
    let rate = voice.sample_rate() as f64;
    let whole = speak(
        &mut voice,
        "<speak>Please wait while we connect you.</speak>",
    );
    let split = speak(
        &mut voice,
        "<speak>Please wait <break time=\"1500ms\"/><mark name=\"x\"/>while we connect you.\
         </speak>",
    );
    // Two runs, each side's pause at the cut trimmed: about the break's length more (the halves
    // are spoken a little differently).
    assert_eq!(split.speech.chunks.len(), 2);
    let first = &split.speech.chunks[0];
    let silence = &split.speech.samples[first.start + first.len..][..(1.5 * rate) as usize];
    assert!(silence.iter().all(|&s| s == 0.0));
    assert_eq!(split.marks[0].offset, split.speech.chunks[1].start);
    let delta = (split.speech.samples.len() as f64 - whole.speech.samples.len() as f64) / rate;
    eprintln!("break inside a sentence, no durations: +{delta:.4} s");
    assert!((delta - 1.5).abs() < 0.15, "{delta}");
}
