// SPDX-License-Identifier: GPL-3.0-or-later
//! Intelligibility of `neuralttssrc`: an offline recogniser must understand what it says.
//!
//! The sentences of `tests/data/intelligibility.txt` (everyday words, no digits) are spoken with
//! `noise-scale=0 noise-w=0` (bit-identical output run to run), resampled to 16 kHz mono S16 by
//! GStreamer and written to a WAV file; `scripts/asr_wer.py` runs pocketsphinx 5.1.1 (PyPI, with
//! the en-us model its wheel bundles) on it and prints the word error rate against the text.
//!
//! Measured on Debian 12 with `en_US-joe-medium`: 9.5% (14 errors in 147 words). espeak-ng 1.51's
//! own formant voice (`espeak-ng -v en-us -f tests/data/intelligibility.txt -w out.wav`), scored
//! the same way, gets 80%, so the 15% bound does tell a usable voice from a broken front end,
//! wrong ids, a wrong sample rate or garbled audio.
//!
//! `say-as interpret-as="characters"` is checked the same way, but against a grammar
//! (`scripts/asr_grammar.py`): free recognition of spelled letters is unreliable, a choice among
//! the letters and the words they sound like is not.
//!
//! The recogniser lives in the repository's `.venv` (scripts/setup.sh installs
//! scripts/requirements-test.txt there); without it the test fails, it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use gst::prelude::*;
use neural_media_test_support as support;

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

const MAX_WER: f64 = 0.15;
const MIN_WORDS: u64 = 100;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The venv's python, checked to import pocketsphinx; panics with the fix otherwise.
fn recogniser_python(root: &Path) -> PathBuf {
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it creates .venv and installs \
         scripts/requirements-test.txt)",
        python.display()
    );
    let check = Command::new(&python)
        .args(["-c", "import pocketsphinx"])
        .output()
        .expect("run the venv's python");
    assert!(
        check.status.success(),
        "pocketsphinx is not installed in {}: run scripts/setup.sh (or .venv/bin/pip install -r \
         scripts/requirements-test.txt)\n{}",
        root.join(".venv").display(),
        String::from_utf8_lossy(&check.stderr)
    );
    python
}

/// Speaks `text_file` into a 16 kHz mono S16 WAV file at `wav`.
fn speak_to_wav(text_file: &Path, wav: &Path) {
    init();
    let description = format!(
        "neuralttssrc location=\"{}\" noise-scale=0 noise-w=0 ! audioconvert ! audioresample ! \
         audio/x-raw,rate=16000,channels=1,format=S16LE ! wavenc ! filesink location=\"{}\"",
        text_file.display(),
        wav.display()
    );
    let pipeline = gst::parse::launch(&description).expect("pipeline");
    pipeline.set_state(gst::State::Playing).expect("PLAYING");
    let bus = pipeline.bus().unwrap();
    let mut sentences = 0;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null).unwrap();
                panic!("pipeline error: {} ({:?})", e.error(), e.debug());
            }
            gst::MessageView::Element(e)
                if e.structure()
                    .is_some_and(|s| s.name() == "neuraltts-sentence") =>
            {
                sentences += 1;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("NULL");
    assert!(sentences >= 12, "one message per sentence, got {sentences}");
}

#[test]
fn recogniser_understands_the_voice() {
    let root = repo_root();
    let python = recogniser_python(&root);
    let text_file = root.join("tests/data/intelligibility.txt");
    let wav = Path::new(env!("CARGO_TARGET_TMPDIR")).join("intelligibility.wav");
    speak_to_wav(&text_file, &wav);

    let out = Command::new(&python)
        .arg(root.join("scripts/asr_wer.py"))
        .arg(&wav)
        .arg(&text_file)
        .current_dir(&root)
        .output()
        .expect("run scripts/asr_wer.py");
    assert!(
        out.status.success(),
        "scripts/asr_wer.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("asr_wer.py prints JSON");
    let wer = report["wer"].as_f64().expect("wer");
    let words = report["words"].as_u64().expect("words");
    assert!(words >= MIN_WORDS, "only {words} reference words");
    assert!(
        wer < MAX_WER,
        "word error rate {:.1}% (bound {:.0}%)\n ref: {}\n hyp: {}",
        wer * 100.0,
        MAX_WER * 100.0,
        report["ref"],
        report["hyp"]
    );
    eprintln!(
        "intelligibility: WER {:.1}% over {words} words",
        wer * 100.0
    );
}

/// Speaks one SSML document (`neuralttssrc text-format=ssml`) into a 16 kHz mono S16 WAV file.
fn speak_ssml_to_wav(document: &str, wav: &Path) {
    init();
    let pipeline = neural_media_test_support::pipeline(&format!(
        "neuralttssrc name=src text-format=ssml noise-scale=0 noise-w=0 ! audioconvert ! \
         audioresample ! audio/x-raw,rate=16000,channels=1,format=S16LE ! wavenc ! \
         filesink location=\"{}\"",
        wav.display()
    ));
    pipeline
        .by_name("src")
        .expect("the source")
        .set_property("text", document);
    neural_media_test_support::play_to_eos(&pipeline, gst::ClockTime::from_seconds(60));
    pipeline.set_state(gst::State::Null).expect("NULL");
}

/// What pocketsphinx hears in `wav` when it may only hear one of `alternatives`.
fn heard(python: &Path, root: &Path, wav: &Path, alternatives: &[&str]) -> String {
    let out = Command::new(python)
        .arg(root.join("scripts/asr_grammar.py"))
        .arg(wav)
        .args(alternatives)
        .current_dir(root)
        .output()
        .expect("run scripts/asr_grammar.py");
    assert!(
        out.status.success(),
        "scripts/asr_grammar.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("asr_grammar.py prints JSON");
    report["hyp"].as_str().expect("hyp").to_owned()
}

#[test]
fn say_as_characters_is_heard_as_three_letters() {
    let root = repo_root();
    let python = recogniser_python(&root);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // The letters, and words that sound like them together.
    let choices = [
        "g s t", "gist", "guest", "just", "test", "ghost", "gust", "jesse", "g s", "s t", "g t",
    ];
    let letters = dir.join("ssml-gst-letters.wav");
    speak_ssml_to_wav(
        "<speak><say-as interpret-as=\"characters\">GST</say-as></speak>",
        &letters,
    );
    assert_eq!(heard(&python, &root, &letters, &choices), "g s t");
    // The grammar does not favour letters: a word is heard as that word.
    let word = dir.join("ssml-gst-word.wav");
    speak_ssml_to_wav("<speak>gist</speak>", &word);
    assert_eq!(heard(&python, &root, &word, &choices), "gist");
}
