// SPDX-License-Identifier: GPL-3.0-or-later
//! Voice settings and properties shared by `neuralttssrc` and `neuraltts`.

use crate::ExecutionProvider;
use crate::marks::{DEFAULT_SPEECH_MARKS, SpeechMarks};
use gst::glib;
use gst::prelude::*;
use neural_media::engine::Overlap;
use neural_media::runtime::SessionOptions;
use neural_media::tts::{Chunking, Normalize, SynthesisConfig, Voice};

pub const DEFAULT_LENGTH_SCALE: f64 = -1.0;
pub const DEFAULT_NOISE_SCALE: f64 = -1.0;
pub const DEFAULT_NOISE_W: f64 = -1.0;
pub const DEFAULT_SENTENCE_SILENCE: f64 = 0.2;
pub const DEFAULT_VOLUME: f64 = 1.0;
pub const DEFAULT_THREADS: u32 = 0;

/// Synthesis unit, as a property type.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmNeuralTtsChunking")]
pub enum ChunkingProp {
    #[default]
    #[enum_value(
        name = "Sentence: one model run per sentence (best prosody)",
        nick = "sentence"
    )]
    Sentence = 0,
    #[enum_value(
        name = "Clause: one run per clause (first audio sooner)",
        nick = "clause"
    )]
    Clause = 1,
}

/// Loudness policy, as a property type.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmNeuralTtsNormalize")]
pub enum NormalizeProp {
    #[default]
    #[enum_value(
        name = "Gain: one fixed gain for every sentence (steady loudness)",
        nick = "gain"
    )]
    Gain = 0,
    #[enum_value(
        name = "Peak: each sentence peak-normalised, as piper does (loudness jumps)",
        nick = "peak"
    )]
    Peak = 1,
    #[enum_value(name = "Off: the model's output as is", nick = "off")]
    Off = 2,
}

/// Marks the property types both elements share as plugin API, for the documentation.
#[cfg(feature = "doc")]
pub fn mark_as_plugin_api() {
    ChunkingProp::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    NormalizeProp::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    SpeechMarks::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    ExecutionProvider::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
}

/// Everything about the voice an element's properties set.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    pub model: Option<String>,
    pub speaker: Option<String>,
    pub length_scale: f64,
    pub noise_scale: f64,
    pub noise_w: f64,
    pub sentence_silence: f64,
    pub volume: f64,
    pub execution_provider: ExecutionProvider,
    pub threads: u32,
    pub model_instance: String,
    pub chunking: ChunkingProp,
    pub normalize: NormalizeProp,
    pub speech_marks: SpeechMarks,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            model: None,
            speaker: None,
            length_scale: DEFAULT_LENGTH_SCALE,
            noise_scale: DEFAULT_NOISE_SCALE,
            noise_w: DEFAULT_NOISE_W,
            sentence_silence: DEFAULT_SENTENCE_SILENCE,
            volume: DEFAULT_VOLUME,
            execution_provider: ExecutionProvider::default(),
            threads: DEFAULT_THREADS,
            model_instance: String::new(),
            chunking: ChunkingProp::default(),
            normalize: NormalizeProp::default(),
            speech_marks: DEFAULT_SPEECH_MARKS,
        }
    }
}

impl VoiceSettings {
    /// The property specs, in the order they appear in gst-inspect.
    pub fn properties() -> Vec<glib::ParamSpec> {
        let mut props = vec![
            glib::ParamSpecString::builder("model")
                .nick("Voice model")
                .blurb("Piper voice (.onnx, with its .onnx.json beside it); default: the provisioned en_US-joe-medium, with phoneme durations for speech marks")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("speaker")
                .nick("Speaker")
                .blurb("Speaker of a multi-speaker voice, by id or name (default: the voice's first)")
                .mutable_ready()
                .build(),
            glib::ParamSpecDouble::builder("length-scale")
                .nick("Length scale")
                .blurb("Phoneme duration scale, >1 is slower (-1: the voice's default)")
                .minimum(-1.0)
                .maximum(5.0)
                .default_value(DEFAULT_LENGTH_SCALE)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("noise-scale")
                .nick("Noise scale")
                .blurb("Generator noise; 0 with noise-w 0 gives identical output run to run (-1: the voice's default)")
                .minimum(-1.0)
                .maximum(2.0)
                .default_value(DEFAULT_NOISE_SCALE)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("noise-w")
                .nick("Noise width")
                .blurb("Phoneme duration noise (-1: the voice's default)")
                .minimum(-1.0)
                .maximum(2.0)
                .default_value(DEFAULT_NOISE_W)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("sentence-silence")
                .nick("Sentence silence")
                .blurb("Silence after each sentence, in seconds")
                .minimum(0.0)
                .maximum(10.0)
                .default_value(DEFAULT_SENTENCE_SILENCE)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("volume")
                .nick("Volume")
                .blurb("Linear gain applied to the voice (1.0: the voice's consistent default loudness)")
                .minimum(0.0)
                .maximum(10.0)
                .default_value(DEFAULT_VOLUME)
                .mutable_playing()
                .build(),
            glib::ParamSpecEnum::builder_with_default("chunking", ChunkingProp::default())
                .nick("Chunking")
                .blurb("Unit of synthesis: sentence (best prosody) or clause (lower time to first audio)")
                .mutable_playing()
                .build(),
            glib::ParamSpecEnum::builder_with_default("normalize", NormalizeProp::default())
                .nick("Normalize")
                .blurb("Loudness policy: gain (one fixed gain, steady loudness), peak (per sentence, as piper), off")
                .mutable_playing()
                .build(),
        ];
        props.extend(ExecutionProvider::properties("Where the voice runs"));
        props.extend(crate::marks::properties());
        props
    }

    /// Sets one of [`VoiceSettings::properties`].
    pub fn set(&mut self, value: &glib::Value, name: &str) {
        match name {
            "model" => self.model = value.get().expect("type checked upstream"),
            "speaker" => self.speaker = value.get().expect("type checked upstream"),
            "length-scale" => self.length_scale = value.get().expect("type checked upstream"),
            "noise-scale" => self.noise_scale = value.get().expect("type checked upstream"),
            "noise-w" => self.noise_w = value.get().expect("type checked upstream"),
            "sentence-silence" => {
                self.sentence_silence = value.get().expect("type checked upstream")
            }
            "volume" => self.volume = value.get().expect("type checked upstream"),
            "execution-provider" => {
                self.execution_provider = value.get().expect("type checked upstream")
            }
            "threads" => self.threads = value.get().expect("type checked upstream"),
            "model-instance" => {
                self.model_instance = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "chunking" => self.chunking = value.get().expect("type checked upstream"),
            "normalize" => self.normalize = value.get().expect("type checked upstream"),
            "speech-marks" => self.speech_marks = value.get().expect("type checked upstream"),
            _ => unimplemented!("property {name}"),
        }
    }

    /// Reads one of [`VoiceSettings::properties`] but `active-execution-provider`
    /// ([`active_provider`]) and `speech-marks-available` (the element's).
    pub fn get(&self, name: &str) -> glib::Value {
        match name {
            "model" => self.model.to_value(),
            "speaker" => self.speaker.to_value(),
            "length-scale" => self.length_scale.to_value(),
            "noise-scale" => self.noise_scale.to_value(),
            "noise-w" => self.noise_w.to_value(),
            "sentence-silence" => self.sentence_silence.to_value(),
            "volume" => self.volume.to_value(),
            "execution-provider" => self.execution_provider.to_value(),
            "threads" => self.threads.to_value(),
            "model-instance" => self.model_instance.to_value(),
            "chunking" => self.chunking.to_value(),
            "normalize" => self.normalize.to_value(),
            "speech-marks" => self.speech_marks.to_value(),
            _ => unimplemented!("property {name}"),
        }
    }

    /// Loads the voice these settings name, for runs that follow `overlap` (see
    /// [`Voice::load`]; `Overlap::Allowed` is a voice's default: runs take turns).
    pub fn load_voice(&self, overlap: Overlap) -> Result<Voice, gst::ErrorMessage> {
        let path = match &self.model {
            Some(m) if !m.is_empty() => std::path::PathBuf::from(m),
            _ => neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE),
        };
        let options = SessionOptions {
            execution_provider: self.execution_provider.into(),
            threads: self.threads as usize,
            instance: self.model_instance.clone(),
            overlap,
            ..SessionOptions::default()
        };
        let voice =
            Voice::load(&path, None, &options).map_err(|e| neural_media_gst::start_error(&e))?;
        if let Some(speaker) = self.speaker.as_deref().filter(|s| !s.is_empty()) {
            resolve_speaker(&voice, speaker)?;
        }
        Ok(voice)
    }

    /// The synthesis configuration for `voice` (call with the settings copied out of their lock).
    pub fn synthesis_config(&self, voice: &Voice) -> SynthesisConfig {
        let defaults = voice.default_synthesis_config();
        let or_default = |v: f64, d: f32| if v < 0.0 { d } else { v as f32 };
        SynthesisConfig {
            noise_scale: or_default(self.noise_scale, defaults.noise_scale),
            length_scale: or_default(self.length_scale, defaults.length_scale).max(0.05),
            noise_w: or_default(self.noise_w, defaults.noise_w),
            speaker: self
                .speaker
                .as_deref()
                .and_then(|s| resolve_speaker(voice, s).ok()),
            sentence_silence: self.sentence_silence as f32,
            chunking: match self.chunking {
                ChunkingProp::Sentence => Chunking::Sentence,
                ChunkingProp::Clause => Chunking::Clause,
            },
            normalize: match self.normalize {
                NormalizeProp::Gain => Normalize::default(),
                NormalizeProp::Peak => Normalize::Peak,
                NormalizeProp::Off => Normalize::Off,
            },
            volume: self.volume as f32,
            word_marks: self.speech_marks.contains(SpeechMarks::WORD),
        }
    }
}

/// The `active-execution-provider` property: where the loaded voice runs (`None` while stopped).
pub fn active_provider(provider: Option<neural_media::runtime::ExecutionProvider>) -> glib::Value {
    provider.map(|p| p.as_str()).to_value()
}

fn resolve_speaker(voice: &Voice, speaker: &str) -> Result<i64, gst::ErrorMessage> {
    let config = voice.config();
    let id = speaker
        .parse::<i64>()
        .ok()
        .or_else(|| config.speaker_id(speaker));
    match id {
        Some(id) if (0..config.num_speakers.max(1) as i64).contains(&id) => Ok(id),
        _ => Err(gst::error_msg!(
            gst::LibraryError::Settings,
            (
                "speaker {speaker:?} is not one of the voice's {} speakers",
                config.num_speakers.max(1)
            )
        )),
    }
}

/// Converts f32 samples (the volume already applied by the voice) to the negotiated sample
/// format, clipped to `[-1, 1]` (mixed overlapping speech can exceed it).
pub fn encode(samples: &[f32], format: gst_audio::AudioFormat) -> Vec<u8> {
    match format {
        gst_audio::AudioFormat::F32le => samples
            .iter()
            .flat_map(|s| s.clamp(-1.0, 1.0).to_le_bytes())
            .collect(),
        _ => samples
            .iter()
            .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
            .collect(),
    }
}

/// The audio caps both elements produce; `rate` is the voice's once it is loaded.
pub fn audio_caps(rate: Option<u32>) -> gst::Caps {
    let builder = gst_audio::AudioCapsBuilder::new_interleaved()
        .format_list([gst_audio::AudioFormat::S16le, gst_audio::AudioFormat::F32le])
        .channels(1);
    match rate {
        Some(rate) => builder.rate(rate as i32).build(),
        None => builder.build(),
    }
}

/// [`audio_caps`] as a caps query answers them: intersected with its filter, the filter's order
/// first.
pub fn filtered_audio_caps(rate: Option<u32>, filter: Option<&gst::CapsRef>) -> gst::Caps {
    let caps = audio_caps(rate);
    match filter {
        Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
        None => caps,
    }
}
