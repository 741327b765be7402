// SPDX-License-Identifier: MPL-2.0
//! The Piper voice configuration (`<voice>.onnx.json`).
//!
//! Only what synthesis needs is read; unknown fields are ignored so that any Piper voice loads
//! (other languages, multi-speaker voices, newer fields).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Piper's default generator noise.
pub const DEFAULT_NOISE_SCALE: f32 = 0.667;
/// Piper's default phoneme length scale.
pub const DEFAULT_LENGTH_SCALE: f32 = 1.0;
/// Piper's default phoneme width noise.
pub const DEFAULT_NOISE_W: f32 = 0.8;

/// Padding symbol, written after every phoneme.
pub const PAD: char = '_';
/// Beginning-of-sentence symbol.
pub const BOS: char = '^';
/// End-of-sentence symbol.
pub const EOS: char = '$';

/// Inference defaults of a voice (`inference` in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default)]
pub struct InferenceDefaults {
    /// Generator noise.
    pub noise_scale: f32,
    /// Phoneme length scale (>1 is slower).
    pub length_scale: f32,
    /// Phoneme width noise.
    pub noise_w: f32,
}

impl Default for InferenceDefaults {
    fn default() -> Self {
        InferenceDefaults {
            noise_scale: DEFAULT_NOISE_SCALE,
            length_scale: DEFAULT_LENGTH_SCALE,
            noise_w: DEFAULT_NOISE_W,
        }
    }
}

/// A parsed and checked Piper voice configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// espeak-ng voice used to phonemize (e.g. `en-us`).
    pub espeak_voice: String,
    /// Phoneme (one Unicode code point) → ids.
    pub phoneme_id_map: HashMap<char, Vec<i64>>,
    /// Number of speakers; the model takes a `sid` input when above 1.
    pub num_speakers: u32,
    /// Speaker name → id (may be empty).
    pub speaker_id_map: BTreeMap<String, i64>,
    /// Speaker used when none is asked for (`default_speaker_id`, else 0).
    pub default_speaker_id: i64,
    /// Inference defaults.
    pub inference: InferenceDefaults,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

#[derive(Deserialize)]
struct RawConfig {
    audio: RawAudio,
    espeak: RawEspeak,
    #[serde(default)]
    phoneme_type: Option<String>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    num_speakers: u32,
    #[serde(default)]
    speaker_id_map: BTreeMap<String, i64>,
    #[serde(default)]
    default_speaker_id: i64,
    #[serde(default)]
    inference: InferenceDefaults,
}

fn one() -> u32 {
    1
}

impl VoiceConfig {
    /// Reads and checks a voice configuration file. Errors name the file.
    pub fn load(path: &Path) -> Result<VoiceConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::config(path, e))?;
        VoiceConfig::parse(&text).map_err(|reason| Error::config(path, reason))
    }

    /// Parses and checks a voice configuration from JSON text.
    pub fn parse(json: &str) -> std::result::Result<VoiceConfig, String> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if let Some(kind) = raw.phoneme_type.as_deref()
            && kind != "espeak"
        {
            return Err(format!(
                "phoneme_type {kind:?} is not supported (only \"espeak\")"
            ));
        }
        if raw.audio.sample_rate == 0 {
            return Err("audio.sample_rate is 0".into());
        }
        if raw.espeak.voice.trim().is_empty() {
            return Err("espeak.voice is empty".into());
        }
        let mut phoneme_id_map = HashMap::with_capacity(raw.phoneme_id_map.len());
        for (phoneme, ids) in raw.phoneme_id_map {
            let mut chars = phoneme.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                // Multi-code-point keys (vowel clusters of some newer voices) cannot match a
                // single decomposed code point: piper ignores them too unless clusters are set.
                tracing::debug!(%phoneme, "ignoring multi-character phoneme");
                continue;
            };
            if ids.is_empty() || ids.iter().any(|&id| id < 0) {
                return Err(format!("phoneme {phoneme:?} has invalid ids {ids:?}"));
            }
            phoneme_id_map.insert(c, ids);
        }
        for symbol in [PAD, BOS, EOS] {
            if !phoneme_id_map.contains_key(&symbol) {
                return Err(format!("phoneme_id_map lacks the symbol {symbol:?}"));
            }
        }
        let inference = raw.inference;
        for (name, value) in [
            ("noise_scale", inference.noise_scale),
            ("length_scale", inference.length_scale),
            ("noise_w", inference.noise_w),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("inference.{name} is {value}"));
            }
        }
        Ok(VoiceConfig {
            sample_rate: raw.audio.sample_rate,
            espeak_voice: raw.espeak.voice,
            phoneme_id_map,
            num_speakers: raw.num_speakers.max(1),
            speaker_id_map: raw.speaker_id_map,
            default_speaker_id: raw.default_speaker_id,
            inference,
        })
    }

    /// Whether the model takes a speaker id.
    pub fn multi_speaker(&self) -> bool {
        self.num_speakers > 1
    }

    /// The speaker id of a speaker name.
    pub fn speaker_id(&self, name: &str) -> Option<i64> {
        self.speaker_id_map.get(name).copied()
    }

    /// The ids of a symbol.
    pub fn ids(&self, phoneme: char) -> Option<&[i64]> {
        self.phoneme_id_map.get(&phoneme).map(Vec::as_slice)
    }

    /// One more than the largest id of the map: every id produced is below this.
    pub fn id_count(&self) -> i64 {
        self.phoneme_id_map
            .values()
            .flatten()
            .copied()
            .max()
            .map_or(0, |m| m + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": "de"},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [4]}
    }"#;

    #[test]
    fn defaults_apply_when_absent() {
        let c = VoiceConfig::parse(MINIMAL).unwrap();
        assert_eq!(c.sample_rate, 16000);
        assert_eq!(c.espeak_voice, "de");
        assert_eq!(c.num_speakers, 1);
        assert!(!c.multi_speaker());
        assert_eq!(c.inference, InferenceDefaults::default());
        assert_eq!(c.ids('a'), Some(&[4][..]));
        assert_eq!(c.id_count(), 5);
    }

    #[test]
    fn multi_speaker_and_partial_inference() {
        let json = r#"{
            "audio": {"sample_rate": 22050, "quality": "x"},
            "espeak": {"voice": "en-gb-x-rp"},
            "num_speakers": 3, "speaker_id_map": {"p1": 0, "p2": 2},
            "inference": {"length_scale": 1.2},
            "phoneme_id_map": {"_": [0], "^": [1], "$": [2], "aɪ": [9]},
            "language": {"code": "en_GB"}, "future_field": [1, 2]
        }"#;
        let c = VoiceConfig::parse(json).unwrap();
        assert!(c.multi_speaker());
        assert_eq!(c.speaker_id("p2"), Some(2));
        assert_eq!(c.inference.length_scale, 1.2);
        assert_eq!(c.inference.noise_scale, DEFAULT_NOISE_SCALE);
        assert_eq!(c.ids('a'), None);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        for (json, needle) in [
            ("{", "EOF"),
            (
                r#"{"espeak": {"voice": "en"}, "phoneme_id_map": {}}"#,
                "audio",
            ),
            (
                r#"{"audio": {"sample_rate": 1}, "espeak": {"voice": "en"}, "phoneme_id_map": {"_": [0]}}"#,
                "'^'",
            ),
            (
                r#"{"audio": {"sample_rate": 1}, "espeak": {"voice": "en"}, "phoneme_type": "text", "phoneme_id_map": {}}"#,
                "phoneme_type",
            ),
            (
                r#"{"audio": {"sample_rate": 1}, "espeak": {"voice": "en"}, "phoneme_id_map": {"_": [-1]}}"#,
                "invalid ids",
            ),
        ] {
            let err = VoiceConfig::parse(json).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let err = VoiceConfig::load(Path::new("/nonexistent/voice.onnx.json")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/voice.onnx.json"),
            "{err}"
        );
    }
}
