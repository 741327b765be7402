// SPDX-License-Identifier: MPL-2.0
//! The real Piper voice (`en_US-joe-medium`) with the real espeak-ng: waveform, determinism,
//! streaming, cancellation, gain, errors. The voice is provisioned by the set-up script; these
//! tests fail (never skip) when it is missing.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use neural_media::Error;
use neural_media::tts::{Chunk, Chunking, Normalize, SynthesisConfig, Voice};

mod common;
use common::{Espeak, deterministic, voice};

/// "Hello world." for en_US-joe-medium, as the front end produces it (kept fixed here so that
/// the model is tested on its own).
const HELLO_WORLD_IDS: [i64; 31] = [
    1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0, 24, 0,
    17, 0, 10, 0, 2,
];

fn model_path() -> PathBuf {
    neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE)
}

fn config_path() -> PathBuf {
    let mut p = model_path().into_os_string();
    p.push(".json");
    p.into()
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0, |m, s| m.max(s.abs()))
}

fn collect(voice: &mut Voice, text: &str, config: &SynthesisConfig) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    voice
        .synthesize(text, config, &Espeak, |chunk| {
            chunks.push(chunk);
            ControlFlow::Continue(())
        })
        .unwrap();
    chunks
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tts-voice-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fixed_ids_give_speech() {
    let mut voice = voice();
    assert_eq!(voice.sample_rate(), 22050);
    let config = SynthesisConfig {
        normalize: Normalize::Off,
        ..voice.default_synthesis_config()
    };
    let samples = voice.synthesize_ids(&HELLO_WORLD_IDS, &config).unwrap();
    let seconds = samples.len() as f32 / 22050.0;
    assert!((0.5..2.0).contains(&seconds), "{seconds} s");
    assert!(samples.iter().all(|s| s.is_finite()));
    assert!(rms(&samples) > 0.02, "rms {}", rms(&samples));
    assert!(peak(&samples) <= 1.0);
}

#[test]
fn zero_noise_is_bit_identical() {
    let mut voice = voice();
    let config = deterministic(&voice);
    let a = voice.synthesize_ids(&HELLO_WORLD_IDS, &config).unwrap();
    let b = voice.synthesize_ids(&HELLO_WORLD_IDS, &config).unwrap();
    assert!(!a.is_empty());
    let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn bad_ids_are_rejected() {
    let mut voice = voice();
    let config = voice.default_synthesis_config();
    assert!(matches!(
        voice.synthesize_ids(&[1, 0, 9999, 0, 2], &config),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        voice.synthesize_ids(&[], &config),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn duration_grows_with_text_and_timings_are_reported() {
    let mut voice = voice();
    let config = voice.default_synthesis_config();
    let texts = [
        "Hi.",
        "The weather is nice today.",
        "The weather is nice today, and tomorrow it will be even warmer, so we should go to the beach.",
    ];
    let mut durations = Vec::new();
    for text in texts {
        let mut seconds = 0.0;
        let summary = voice
            .synthesize(text, &config, &Espeak, |chunk| {
                assert_eq!(chunk.sample_rate, 22050);
                assert!(chunk.stats.infer_seconds > 0.0 && chunk.stats.rtf > 0.0);
                seconds += chunk.samples.len() as f64 / 22050.0;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(summary.chunks, 1);
        assert!(!summary.stopped);
        assert!((summary.stats.audio_seconds - seconds).abs() < 1e-9);
        eprintln!(
            "{text:?}: {:.2} s of audio in {:.3} s, rtf {:.3} ({})",
            summary.stats.audio_seconds,
            summary.stats.infer_seconds,
            summary.stats.rtf,
            voice.provider()
        );
        durations.push(seconds);
    }
    assert!(durations.windows(2).all(|w| w[0] < w[1]), "{durations:?}");
}

#[test]
fn one_chunk_per_sentence_or_clause() {
    let mut voice = voice();
    let text = "First sentence here. Second one, with a clause! And a third?";
    let config = voice.default_synthesis_config();
    let sentences = collect(&mut voice, text, &config);
    let texts: Vec<&str> = sentences.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "First sentence here.",
            "Second one, with a clause!",
            "And a third?"
        ]
    );
    assert!(
        sentences
            .iter()
            .all(|c| c.sentence_end && rms(&c.samples) > 0.02)
    );

    let clauses = collect(
        &mut voice,
        text,
        &SynthesisConfig {
            chunking: Chunking::Clause,
            ..config
        },
    );
    let flags: Vec<(&str, bool)> = clauses
        .iter()
        .map(|c| (c.text.as_str(), c.sentence_end))
        .collect();
    assert_eq!(
        flags,
        [
            ("First sentence here.", true),
            ("Second one,", false),
            ("with a clause!", true),
            ("And a third?", true)
        ]
    );
}

#[test]
fn break_stops_after_the_first_chunk() {
    let mut voice = voice();
    let config = voice.default_synthesis_config();
    let mut seen = Vec::new();
    let summary = voice
        .synthesize("One. Two. Three. Four.", &config, &Espeak, |chunk| {
            seen.push(chunk.text);
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(seen, ["One."]);
    assert_eq!(summary.chunks, 1);
    assert!(summary.stopped);
}

#[test]
fn sentence_silence_and_gain() {
    let mut voice = voice();
    let raw = deterministic(&voice);
    let base = collect(&mut voice, "Hello world.", &raw);
    assert_eq!(base.len(), 1);
    let base = &base[0].samples;

    let silent = collect(
        &mut voice,
        "Hello world.",
        &SynthesisConfig {
            sentence_silence: 0.25,
            ..raw
        },
    );
    let silent = &silent[0].samples;
    assert_eq!(silent.len(), base.len() + 5513);
    assert_eq!(&silent[..base.len()], &base[..]);
    assert!(silent[base.len()..].iter().all(|&s| s == 0.0));

    let peaked = collect(
        &mut voice,
        "Hello world.",
        &SynthesisConfig {
            normalize: Normalize::Peak,
            ..raw
        },
    );
    assert!((peak(&peaked[0].samples) - 1.0).abs() < 1e-6);

    let gained = collect(
        &mut voice,
        "Hello world.",
        &SynthesisConfig {
            normalize: Normalize::Gain(1.5),
            ..raw
        },
    );
    for (g, b) in gained[0].samples.iter().zip(base) {
        assert!((g - (b * 1.5).clamp(-1.0, 1.0)).abs() < 1e-6);
    }
}

#[test]
fn empty_text_gives_no_chunks() {
    let mut voice = voice();
    let config = voice.default_synthesis_config();
    for text in ["", "   \n\t", "...", "?!"] {
        let summary = voice
            .synthesize(text, &config, &Espeak, |_| {
                panic!("no chunk expected for {text:?}")
            })
            .unwrap();
        assert_eq!(summary.chunks, 0);
    }
}

#[test]
fn phonemes_the_voice_lacks_are_dropped() {
    // The same voice with "ə" removed from its map: "Hello" (həlˈoʊ) loses one phoneme.
    let dir = scratch("dropped");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config_path()).unwrap()).unwrap();
    json["phoneme_id_map"]
        .as_object_mut()
        .unwrap()
        .remove("ə")
        .unwrap();
    let config_file = dir.join("voice.json");
    std::fs::write(&config_file, json.to_string()).unwrap();
    let mut voice = Voice::load(&model_path(), Some(&config_file), &Default::default()).unwrap();
    let config = voice.default_synthesis_config();
    let chunks = collect(&mut voice, "Hello world.", &config);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].dropped_phonemes, 1);
    assert!(rms(&chunks[0].samples) > 0.02);
    std::fs::remove_dir_all(dir).ok();
}

fn assert_names(err: &Error, path: &Path) {
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} should name {}",
        path.display()
    );
}

#[test]
fn load_errors_name_the_file() {
    let dir = scratch("errors");
    let options = Default::default();

    // Missing model (configuration given explicitly).
    let missing = dir.join("missing.onnx");
    let err = Voice::load(&missing, Some(&config_path()), &options).unwrap_err();
    assert!(matches!(err, Error::Model { .. }), "{err}");
    assert_names(&err, &missing);

    // Missing model and, by default, its missing configuration: the model is reported.
    let err = Voice::load(&missing, None, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot use model {}: No such file or directory (os error 2)",
            missing.display()
        )
    );

    // Corrupt model.
    let corrupt = dir.join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not an onnx model \x00\x01\x02").unwrap();
    let err = Voice::load(&corrupt, Some(&config_path()), &options).unwrap_err();
    assert!(matches!(err, Error::Model { .. }), "{err}");
    assert_names(&err, &corrupt);

    // Bad JSON, and JSON that is not a voice configuration.
    for (name, text) in [("bad.json", "{ not json"), ("empty.json", "{}")] {
        let bad = dir.join(name);
        std::fs::write(&bad, text).unwrap();
        let err = Voice::load(&model_path(), Some(&bad), &options).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert_names(&err, &bad);
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Chunks synthesised ahead, side by side on overlapping handles, come out in their order with
/// the audio of a synthesis one after another; a cancellation fails the runs, and the chunks not
/// taken are given back in order.
#[test]
fn lookahead_keeps_the_order_and_the_audio() {
    use neural_media::tts::lookahead::{self, Lookahead};
    let mut voice = voice();
    let config = deterministic(&voice);
    let text = "The first sentence is here. A second one follows it. Then a third. And the last.";
    let chunks = neural_media::tts::text_to_ids(text, voice.config(), &Espeak, Chunking::Sentence)
        .expect("phonemized");
    assert_eq!(chunks.len(), 4);
    assert!(chunks.iter().all(lookahead::runs_ahead));
    let alone: Vec<Chunk> = chunks
        .iter()
        .map(|c| {
            voice
                .synthesize_chunk(c.clone(), &config)
                .expect("synthesised")
        })
        .collect();

    let ahead = Lookahead::new(&voice, 2).expect("lookahead");
    for (index, chunk) in chunks.iter().enumerate() {
        ahead
            .submit(chunk.clone(), index, &config)
            .expect("submitted");
    }
    for (index, (expected, ids)) in alone.iter().zip(&chunks).enumerate() {
        let (got_ids, tag, result) = ahead.next().expect("a chunk in flight");
        let got = result.expect("synthesised");
        assert_eq!(&got_ids, ids, "in submission order");
        assert_eq!(tag, index);
        assert_eq!(got.text, expected.text);
        assert_eq!(got.samples.len(), expected.samples.len(), "{}", got.text);
        let worst = got
            .samples
            .iter()
            .zip(&expected.samples)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{}: differs by {worst}", got.text);
    }
    assert!(ahead.next().is_none());

    ahead.cancel();
    for (index, chunk) in chunks.iter().enumerate() {
        ahead
            .submit(chunk.clone(), index, &config)
            .expect("submitted");
    }
    let (first, _, result) = ahead.next().expect("a chunk in flight");
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(first, chunks[0]);
    let rest: Vec<_> = chunks.iter().cloned().zip(0usize..).skip(1).collect();
    assert_eq!(ahead.take_back(), rest, "the rest, in order");
    ahead.reset();
    ahead
        .submit(chunks[0].clone(), 0, &config)
        .expect("submitted");
    assert!(
        ahead.next().expect("in flight").2.is_ok(),
        "runs again after reset"
    );
}

/// espeak-ng, counting its calls.
struct CountingEspeak(std::cell::Cell<usize>);

impl neural_media::tts::Phonemizer for CountingEspeak {
    fn phonemize(&self, voice: &str, text: &str) -> neural_media::Result<String> {
        self.0.set(self.0.get() + 1);
        Espeak.phonemize(voice, text)
    }
}

/// Speech that has to be sped up is synthesised again from the same front end: however many
/// attempts `synthesize_to_fit` makes, espeak-ng is asked what one pass of the front end asks.
#[test]
fn fitting_speech_runs_the_front_end_once() {
    use neural_media::tts::Fit;
    let mut voice = voice();
    let config = deterministic(&voice);
    let text = "The first sentence is here. And a second one follows it.";
    let once = CountingEspeak(std::cell::Cell::new(0));
    let natural = voice
        .synthesize_speech(text, &config, &once, || true)
        .expect("synthesis")
        .expect("not stopped");
    let fit = Fit {
        samples: natural.voiced_len() * 4 / 5,
        max_speedup: 1.5,
    };
    let fitted = CountingEspeak(std::cell::Cell::new(0));
    let faster = voice
        .synthesize_to_fit(text, &config, &fitted, fit, || true)
        .expect("synthesis")
        .expect("not stopped");
    assert!(
        faster.voiced_len() < natural.voiced_len(),
        "synthesised again faster"
    );
    assert!(once.0.get() > 0);
    assert_eq!(fitted.0.get(), once.0.get());
}
