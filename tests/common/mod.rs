// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the integration tests that run scripts and built plugins.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`, where cargo puts the plugin `.so` files (scripts/test.sh builds them
/// before the tests run).
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// A fresh output path in cargo's temporary directory for this test process.
pub fn out_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()))
}

/// The provisioned sample clip (640×360, 472 frames, one face).
pub fn sample_video() -> PathBuf {
    let path = neural_media::assets::data_dir().join("media/WolfgangLanger_Pexels.mp4");
    assert!(
        path.is_file(),
        "{} missing: run scripts/setup.sh",
        path.display()
    );
    path
}

/// Runs `pipelines/<script>` with the plugins of this build and asserts that it succeeded.
pub fn run(script: &str, args: &[&Path]) {
    let out = Command::new(repo().join("pipelines").join(script))
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .unwrap_or_else(|e| panic!("{script} could not start: {e}"));
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (sample rate, channels, bits, data) of a PCM WAV file.
pub fn wav(path: &Path) -> (u32, u16, u16, Vec<u8>) {
    let bytes = std::fs::read(path).expect("wav written");
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let mut at = 12;
    let mut fmt = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            fmt = Some((
                u32::from_le_bytes(body[4..8].try_into().unwrap()),
                u16::from_le_bytes(body[2..4].try_into().unwrap()),
                u16::from_le_bytes(body[14..16].try_into().unwrap()),
            ));
        } else if id == b"data" {
            let (rate, channels, bits) = fmt.expect("fmt chunk before data");
            return (rate, channels, bits, body.to_vec());
        }
        at += 8 + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

/// An RGB image from `data/media`.
pub fn media_image(name: &str) -> image::RgbImage {
    let path = neural_media::assets::data_dir().join("media").join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// The core's view of an RGB image.
pub fn rgb_frame(img: &image::RgbImage) -> neural_media::face::Frame<'_> {
    let (w, h) = img.dimensions();
    neural_media::face::Frame::packed(
        neural_media::face::PixelFormat::Rgb,
        w as usize,
        h as usize,
        img.as_raw(),
        w as usize * 3,
    )
    .expect("an RGB image is a valid frame")
}

/// The espeak-ng phonemizer for the core's TTS front end (the GPL glue lives outside the core).
pub struct Espeak;

impl neural_media::tts::Phonemizer for Espeak {
    fn phonemize(&self, voice: &str, text: &str) -> neural_media::Result<String> {
        espeak_ng::phonemize(voice, text)
            .map_err(|e| neural_media::Error::Phonemizer(e.to_string()))
    }
}

/// The default (provisioned) voice.
pub fn voice() -> neural_media::tts::Voice {
    let path = neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE);
    neural_media::tts::Voice::load(&path, None, &Default::default())
        .unwrap_or_else(|e| panic!("the default voice must be provisioned: {e}"))
}

/// `voice`'s defaults without noise and without normalisation: the same ids give the same audio.
pub fn deterministic(voice: &neural_media::tts::Voice) -> neural_media::tts::SynthesisConfig {
    neural_media::tts::SynthesisConfig {
        noise_scale: 0.0,
        noise_w: 0.0,
        normalize: neural_media::tts::Normalize::Off,
        ..voice.default_synthesis_config()
    }
}

/// The default voice's configuration (read once per test process).
pub fn voice_config() -> neural_media::tts::VoiceConfig {
    use std::sync::OnceLock;
    static CONFIG: OnceLock<neural_media::tts::VoiceConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut path = neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE)
                .into_os_string();
            path.push(".json");
            neural_media::tts::VoiceConfig::load(path.as_ref())
                .unwrap_or_else(|e| panic!("voice JSON not provisioned: {e}"))
        })
        .clone()
}

/// `tests/data/tts_ids.json`: piper-phonemize's ids for texts, the front end's oracle.
#[derive(serde::Deserialize)]
pub struct IdsOracle {
    pub cases: Vec<OracleCase>,
}

#[derive(serde::Deserialize)]
pub struct OracleCase {
    pub voice: String,
    pub text: String,
    pub sentences: Vec<OracleSentence>,
}

#[derive(serde::Deserialize)]
pub struct OracleSentence {
    pub phonemes: String,
    pub ids: Vec<i64>,
    pub dropped: usize,
}

pub fn ids_oracle() -> IdsOracle {
    serde_json::from_str(include_str!("../data/tts_ids.json")).expect("tts_ids.json parses")
}

/// The hostile-input property tests' configuration: 64 cases, no failure files written.
pub fn hostile_cases() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: 64,
        failure_persistence: None,
        ..Default::default()
    }
}

/// Hostile input: up to 40 of `fragments` concatenated.
pub fn fragment_mixtures(
    fragments: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop::collection::vec(prop::sample::select(fragments), 0..40).prop_map(|f| f.concat())
}

/// Hostile input: up to 60 of `fragments` and arbitrary characters, concatenated.
pub fn fragments_and_chars(
    fragments: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(fragments).prop_map(str::to_owned),
            any::<char>().prop_map(String::from),
        ],
        0..60,
    )
    .prop_map(|f| f.concat())
}
