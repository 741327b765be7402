// SPDX-License-Identifier: GPL-3.0-or-later
//! Accuracy of the word marks: each `neuraltts-word`'s `pts` against the word onset an
//! independent forced aligner finds in the audio (pocketsphinx 5.1.1's alignment mode, run by
//! `scripts/align_words.py` in the repository's `.venv`), on the 16 sentences of
//! `tests/data/word_timing.txt`, `noise-scale=0 noise-w=0`.
//!
//! The aligner is checked first on audio whose onsets are known: words synthesised one by one,
//! joined with 300 ms of silence, each word's onset where its signal first rises (short-time
//! RMS above 10 % of the word's loudest frame). It finds them a near-constant time early
//! (measured: -35 ms signed median); around that offset its error must be small (median
//! ≤ 20 ms, p90 ≤ 40 ms), and the offset it shows there is taken off its onsets below. The word
//! marks of the same single words sit on the known onsets (printed).
//! Then `neuralttssrc` speaks the sentences, and `neuraltts` speaks them as cues too short for
//! them (`overflow=fit`, sped up) and as cues that overrun each other (`overflow=shift`).
//! Bounds, asserted: median |Δonset| ≤ 50 ms, 90th percentile ≤ 100 ms. Marks that cover several
//! source words (espeak-ng merged them) are not compared: the aligner has one onset per word.
//! The distributions, with and without the aligner's offset, are printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use gst::prelude::*;
use neural_media::tts::{Normalize, Phonemizer, SynthesisConfig, Voice};
use neural_media_test_support as support;

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

const MEDIAN_MS: f64 = 50.0;
const P90_MS: f64 = 100.0;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn sentences() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("tests/data/word_timing.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A stretch of the audio and what it says.
#[derive(Clone)]
struct Segment {
    start: f64,
    end: f64,
    text: String,
}

#[derive(Debug, Clone)]
struct Aligned {
    word: String,
    start: f64,
}

/// Runs `scripts/align_words.py` on `wav` and `segments`.
fn align(wav: &Path, segments: &[Segment]) -> Vec<Aligned> {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let json = wav.with_extension("segments.json");
    let list: Vec<serde_json::Value> = segments
        .iter()
        .map(|s| serde_json::json!({"start": s.start, "end": s.end, "text": s.text}))
        .collect();
    std::fs::write(&json, serde_json::to_vec(&list).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(root.join("scripts/align_words.py"))
        .arg(wav)
        .arg(&json)
        .output()
        .expect("run scripts/align_words.py");
    assert!(
        out.status.success(),
        "scripts/align_words.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    words
        .iter()
        .map(|w| Aligned {
            word: w["word"].as_str().unwrap().to_owned(),
            start: w["start"].as_f64().unwrap(),
        })
        .collect()
}

fn normalise(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .collect()
}

/// (median, 90th percentile, max) of |Δ| in ms.
fn stats(mut deltas: Vec<f64>) -> (f64, f64, f64) {
    assert!(!deltas.is_empty());
    for d in &mut deltas {
        *d = d.abs() * 1000.0;
    }
    deltas.sort_by(f64::total_cmp);
    let at = |q: f64| deltas[((deltas.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), *deltas.last().unwrap())
}

/// The signed median of `deltas`, in seconds.
fn signed_median(deltas: &[f64]) -> f64 {
    let mut d = deltas.to_vec();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// Prints the distribution of `deltas` (s) as they are and less `bias`, and checks the bounds
/// on the latter; `min_words` must have been compared.
fn check(what: &str, deltas: &[f64], bias: f64, min_words: usize, bounds: (f64, f64)) {
    let n = deltas.len();
    assert!(n >= min_words, "{what}: only {n} words compared");
    let (raw_median, raw_p90, _) = stats(deltas.to_vec());
    let corrected: Vec<f64> = deltas.iter().map(|d| d - bias).collect();
    let (median, p90, max) = stats(corrected.clone());
    eprintln!(
        "{what}: {n} words, |Δonset| median {median:.1} ms, p90 {p90:.1} ms, max {max:.1} ms, \
         signed median {:+.1} ms (as the aligner gives them, before its {:+.1} ms offset is \
         taken off: median {raw_median:.1} ms, p90 {raw_p90:.1} ms)",
        signed_median(&corrected) * 1000.0,
        bias * 1000.0
    );
    assert!(median <= bounds.0, "{what}: median {median:.1} ms");
    assert!(p90 <= bounds.1, "{what}: p90 {p90:.1} ms");
}

struct Espeak;

impl Phonemizer for Espeak {
    fn phonemize(&self, voice: &str, text: &str) -> neural_media::Result<String> {
        espeak_ng::phonemize(voice, text)
            .map_err(|e| neural_media::Error::Phonemizer(e.to_string()))
    }
}

fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    let mut data = Vec::with_capacity(44 + samples.len() * 2);
    let len = (samples.len() * 2) as u32;
    data.extend_from_slice(b"RIFF");
    data.extend_from_slice(&(36 + len).to_le_bytes());
    data.extend_from_slice(b"WAVEfmt ");
    data.extend_from_slice(&16u32.to_le_bytes());
    data.extend_from_slice(&1u16.to_le_bytes());
    data.extend_from_slice(&1u16.to_le_bytes());
    data.extend_from_slice(&rate.to_le_bytes());
    data.extend_from_slice(&(rate * 2).to_le_bytes());
    data.extend_from_slice(&2u16.to_le_bytes());
    data.extend_from_slice(&16u16.to_le_bytes());
    data.extend_from_slice(b"data");
    data.extend_from_slice(&len.to_le_bytes());
    for s in samples {
        data.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, data).unwrap();
}

/// Where the signal first rises: the first 5 ms frame whose RMS is above 10 % of the loudest.
fn acoustic_onset(samples: &[f32], rate: u32) -> usize {
    let frame = (rate / 200) as usize;
    let rms: Vec<f32> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let loudest = rms.iter().fold(0.0f32, |m, r| m.max(*r));
    rms.iter().position(|r| *r > 0.1 * loudest).unwrap_or(0) * frame
}

/// Checks the aligner on words whose onsets are known; returns its systematic offset (the signed
/// median of aligner onset − known onset), which the comparisons take off.
fn validate_aligner() -> f64 {
    let voice_path = neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE);
    let mut voice = Voice::load(&voice_path, None, &Default::default()).unwrap();
    let rate = voice.sample_rate();
    let config = SynthesisConfig {
        noise_scale: 0.0,
        noise_w: 0.0,
        sentence_silence: 0.0,
        word_marks: true,
        normalize: Normalize::default(),
        ..voice.default_synthesis_config()
    };
    let gap = vec![0.0f32; (rate as usize * 3) / 10];
    let mut audio = gap.clone();
    let mut known = Vec::new();
    let mut segments = Vec::new();
    // The marks against the same onsets, for the record.
    let mut marks = Vec::new();
    // The first eight sentences' words, one by one, a segment per sentence.
    for sentence in &sentences()[..8] {
        let start = audio.len();
        let words: Vec<String> = sentence.split(' ').map(normalise).collect();
        for word in &words {
            let speech = voice
                .synthesize_speech(word, &config, &Espeak, || true)
                .unwrap()
                .unwrap();
            let onset = acoustic_onset(&speech.samples, rate);
            known.push((word.clone(), (audio.len() + onset) as f64 / f64::from(rate)));
            if let Some((_, mark)) = speech.words.first() {
                marks.push((mark.sample as f64 - onset as f64) / f64::from(rate));
            }
            audio.extend_from_slice(&speech.samples);
            audio.extend_from_slice(&gap);
        }
        segments.push(Segment {
            start: start as f64 / f64::from(rate),
            end: audio.len() as f64 / f64::from(rate),
            text: words.join(" "),
        });
    }
    let wav = tmp("word_timing_known.wav");
    write_wav(&wav, &audio, rate);
    let aligned = align(&wav, &segments);
    assert_eq!(
        aligned.iter().map(|a| a.word.as_str()).collect::<Vec<_>>(),
        known.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        "one aligned word per word"
    );
    let deltas: Vec<f64> = aligned
        .iter()
        .zip(&known)
        .map(|(a, k)| a.start - k.1)
        .collect();
    // The aligner places onsets a roughly constant time early (its 10 ms frames, 25 ms
    // windows and context); around that offset it must be precise.
    let bias = signed_median(&deltas);
    check(
        "aligner on words with known onsets",
        &deltas,
        bias,
        60,
        (20.0, 40.0),
    );
    let (median, p90, max) = stats(marks.clone());
    marks.sort_by(f64::total_cmp);
    eprintln!(
        "word marks on the same words: |Δonset| median {median:.1} ms, p90 {p90:.1} ms, max \
         {max:.1} ms (signed median {:+.1} ms)",
        marks[marks.len() / 2] * 1000.0
    );
    bias
}

/// Word marks and sentence spans posted by the pipeline, until EOS.
struct Spoken {
    words: Vec<(String, usize, f64)>,
    sentences: Vec<Segment>,
}

fn run(pipeline: &gst::Pipeline) -> Spoken {
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut spoken = Spoken {
        words: Vec::new(),
        sentences: Vec::new(),
    };
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                let secs = |f: &str| s.get::<u64>(f).unwrap() as f64 / 1e9;
                match s.name().as_str() {
                    "neuraltts-word" => spoken.words.push((
                        s.get::<String>("text").unwrap(),
                        s.get::<u64>("sentence").unwrap() as usize,
                        secs("pts"),
                    )),
                    "neuraltts-sentence" => spoken.sentences.push(Segment {
                        start: secs("pts"),
                        end: secs("pts") + secs("duration"),
                        text: s.get::<String>("text").unwrap(),
                    }),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    spoken
}

/// Δ between each single-word mark and the aligner's onset of that word (in order).
fn deltas(spoken: &Spoken, aligned: &[Aligned]) -> Vec<f64> {
    let mut out = Vec::new();
    let mut next = 0;
    for (text, _, pts) in &spoken.words {
        let word = normalise(text);
        if word.contains(' ') || text.contains(' ') {
            // A merged mark: skip the aligner's words it covers.
            next += text.split(' ').count();
            continue;
        }
        if let Some(i) = aligned[next.min(aligned.len())..]
            .iter()
            .take(3)
            .position(|a| a.word == word)
        {
            out.push(pts - aligned[next + i].start);
            next += i + 1;
        }
    }
    out
}

fn compare(what: &str, pipeline: &gst::Pipeline, wav: &Path, bias: f64) {
    let spoken = run(pipeline);
    assert_eq!(spoken.sentences.len(), sentences().len(), "{what}");
    let aligned = align(wav, &spoken.sentences);
    // mark − aligner onset: the aligner is `bias` early, so the marks look `-bias` late.
    check(
        what,
        &deltas(&spoken, &aligned),
        -bias,
        120,
        (MEDIAN_MS, P90_MS),
    );
}

/// 16 kHz mono S16 into a WAV file, the aligner's input as it is.
const TO_WAV: &str =
    "audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1,format=S16LE ! wavenc";

#[test]
fn word_onsets_match_an_independent_aligner() {
    init();
    let bias = validate_aligner();
    let wav = tmp("word_timing_src.wav");
    let pipeline = support::pipeline(&format!(
        "neuralttssrc location=\"{}\" noise-scale=0 noise-w=0 ! {TO_WAV} ! filesink \
         location=\"{}\"",
        repo_root().join("tests/data/word_timing.txt").display(),
        wav.display()
    ));
    compare("neuralttssrc", &pipeline, &wav, bias);
    // Cues of 2.2 s for sentences of 2.3 to 3.3 s: most are sped up.
    voice_cues(
        "neuraltts overflow=fit",
        "overflow=fit max-speedup=1.5",
        3.0,
        2.2,
        bias,
    );
    // Cues every 1.5 s: each sentence starts after the one before it ends.
    voice_cues("neuraltts overflow=shift", "overflow=shift", 1.5, 1.5, bias);
}

/// The sentences as cues, `spacing` seconds apart and lasting `duration`, through `neuraltts`.
fn voice_cues(what: &str, props: &str, spacing: f64, duration: f64, bias: f64) {
    let wav = tmp(&format!(
        "word_timing_{}.wav",
        what.replace([' ', '='], "_")
    ));
    let pipeline = support::pipeline(&format!(
        "appsrc name=src format=time caps=text/x-raw,format=utf8 ! neuraltts noise-scale=0 \
         noise-w=0 {props} ! {TO_WAV} ! filesink location=\"{}\"",
        wav.display()
    ));
    let src = support::app_src(&pipeline, "src");
    for (i, sentence) in sentences().iter().enumerate() {
        let mut buffer = gst::Buffer::from_slice(sentence.clone().into_bytes());
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(
                (i as f64 * spacing * 1e9) as u64,
            ));
            b.set_duration(gst::ClockTime::from_nseconds((duration * 1e9) as u64));
        }
        src.push_buffer(buffer).unwrap();
    }
    src.end_of_stream().unwrap();
    compare(what, &pipeline, &wav, bias);
}
