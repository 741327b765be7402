// SPDX-License-Identifier: MPL-2.0
//! A voice speaking the [`Step`]s of an SSML document: each run at its prosody (the length
//! scale times [`Prosody::length`], the volume times [`Prosody::volume`]), silence for breaks,
//! and the sample offset of each mark.

use super::{Prosody, Step};
use crate::error::Result;
use crate::tts::{Fit, Speech, SynthesisConfig, Voice};

/// A mark and where it falls in the speech.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokenMark {
    /// The mark's name.
    pub name: String,
    /// The sample of the [`Speech`] it stands before.
    pub offset: usize,
}

/// The speech of a document and its marks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SsmlSpeech {
    /// The audio, its chunks (the runs), and no trailing silence after a final `break`.
    pub speech: Speech,
    /// The marks, in order.
    pub marks: Vec<SpokenMark>,
}

impl SsmlSpeech {
    /// The marks that are still within the speech after it was cut (a cut after a mark keeps it;
    /// a mark at the very end stays too).
    pub fn marks_within(&self) -> impl Iterator<Item = &SpokenMark> {
        let len = self.speech.samples.len();
        self.marks.iter().filter(move |m| m.offset <= len)
    }
}

/// `config` for speech at `prosody`.
pub fn prosody_config(config: &SynthesisConfig, prosody: Prosody) -> SynthesisConfig {
    SynthesisConfig {
        length_scale: config.length_scale * prosody.length,
        volume: config.volume * prosody.volume,
        ..*config
    }
}

impl Voice {
    /// The number of samples of a silence of `seconds`.
    pub fn silence_samples(&self, seconds: f32) -> usize {
        (f64::from(seconds.max(0.0)) * f64::from(self.sample_rate())).round() as usize
    }

    /// Speaks the steps of a document ([`super::plan`]) into one [`SsmlSpeech`]. `keep_going` is
    /// asked after each run; when it answers false, synthesis stops and the result is
    /// `Ok(None)`.
    pub fn synthesize_ssml(
        &mut self,
        steps: &[Step],
        config: &SynthesisConfig,
        mut keep_going: impl FnMut() -> bool,
    ) -> Result<Option<SsmlSpeech>> {
        let sentence_silence = self.silence_samples(config.sentence_silence);
        let mut out = SsmlSpeech::default();
        for step in steps {
            match step {
                Step::Run { ids, prosody } => {
                    let chunk = self.synthesize_chunk(ids.clone(), &prosody_config(config, *prosody))?;
                    out.speech.push(chunk, sentence_silence);
                    if !keep_going() {
                        return Ok(None);
                    }
                }
                Step::Silence(seconds) => {
                    let n = self.silence_samples(*seconds);
                    let speech = &mut out.speech;
                    speech.samples.resize(speech.samples.len() + n, 0.0);
                    // A break is asked for: it is part of the speech, not trailing silence.
                    speech.trailing_silence = 0;
                }
                Step::Mark(name) => out.marks.push(SpokenMark {
                    name: name.clone(),
                    offset: out.speech.samples.len(),
                }),
            }
        }
        Ok(Some(out))
    }

    /// [`Voice::synthesize_ssml`], made to last at most `fit.samples` up to its last sound, as
    /// [`Voice::synthesize_to_fit`] does for text: the runs are spoken faster (the breaks keep
    /// their length).
    pub fn synthesize_ssml_to_fit(
        &mut self,
        steps: &[Step],
        config: &SynthesisConfig,
        fit: Fit,
        mut keep_going: impl FnMut() -> bool,
    ) -> Result<Option<SsmlSpeech>> {
        let Some(mut speech) = self.synthesize_ssml(steps, config, &mut keep_going)? else {
            return Ok(None);
        };
        let mut config = *config;
        let base_scale = f64::from(config.length_scale);
        let mut speedup = 1.0f64;
        for _ in 0..crate::tts::FIT_ATTEMPTS {
            let voiced = speech.speech.voiced_len();
            if voiced <= fit.samples || speedup >= fit.max_speedup {
                break;
            }
            speedup = crate::tts::fit_speedup(speedup, voiced, fit);
            tracing::debug!("SSML speech {voiced} samples for {}: {speedup:.3}x", fit.samples);
            config.length_scale = (base_scale / speedup) as f32;
            let infer = speech.speech.infer_seconds;
            let Some(faster) = self.synthesize_ssml(steps, &config, &mut keep_going)? else {
                return Ok(None);
            };
            speech = faster;
            speech.speech.infer_seconds += infer;
        }
        Ok(Some(speech))
    }
}
