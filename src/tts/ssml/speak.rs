// SPDX-License-Identifier: MPL-2.0
//! A voice speaking the [`Step`]s of an SSML document: each run at its prosody (the length
//! scale times [`Prosody::length`], the volume times [`Prosody::volume`]), silence for breaks,
//! and the sample offset of each mark.

use super::{Prosody, Step};
use crate::error::Result;
use crate::tts::{Chunk, ChunkIds, Fit, Speech, SynthesisConfig, Voice};

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

/// Where a sentence is cut into runs (by a `break`, a `mark` or a prosody change), each side's
/// own pause at the cut is trimmed down to this much: the uncut sentence has no pause there, so
/// a `break` adds its own length and nothing more.
pub const CUT_MARGIN_SECONDS: f32 = 0.005;

/// Samples below this fraction of a run's peak count as its leading or trailing pause.
const QUIET: f32 = 0.02;

fn quiet_threshold(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, s| m.max(s.abs())) * QUIET
}

/// The first sample that is not quiet (the length when all are).
fn quiet_start(samples: &[f32]) -> usize {
    let threshold = quiet_threshold(samples);
    samples
        .iter()
        .position(|s| s.abs() > threshold)
        .unwrap_or(samples.len())
}

/// The sample after the last one that is not quiet (0 when all are).
fn quiet_end(samples: &[f32]) -> usize {
    let threshold = quiet_threshold(samples);
    samples
        .iter()
        .rposition(|s| s.abs() > threshold)
        .map_or(0, |i| i + 1)
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

    /// Synthesises one [`Step::Run`] at its prosody ([`Voice::synthesize_chunk`]). Where a
    /// sentence is cut ([`CUT_MARGIN_SECONDS`]): the run's own trailing pause is trimmed when
    /// the run does not end its sentence, and its leading pause when `after_cut` (the run before
    /// it did not end its sentence).
    pub fn synthesize_ssml_run(
        &mut self,
        ids: ChunkIds,
        prosody: Prosody,
        config: &SynthesisConfig,
        after_cut: bool,
    ) -> Result<Chunk> {
        let sentence_end = ids.sentence_end;
        let mut chunk = self.synthesize_chunk(ids, &prosody_config(config, prosody))?;
        let margin = self.silence_samples(CUT_MARGIN_SECONDS);
        let start = if after_cut {
            quiet_start(&chunk.samples).saturating_sub(margin)
        } else {
            0
        };
        if !sentence_end {
            let end = quiet_end(&chunk.samples);
            chunk
                .samples
                .truncate((end + margin).min(chunk.samples.len()));
        }
        chunk.samples.drain(..start.min(chunk.samples.len()));
        Ok(chunk)
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
        // The last run ended inside a sentence: the next one continues it.
        let mut cut = false;
        for step in steps {
            match step {
                Step::Run { ids, prosody } => {
                    let chunk = self.synthesize_ssml_run(ids.clone(), *prosody, config, cut)?;
                    cut = !ids.sentence_end;
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
            tracing::debug!(
                "SSML speech {voiced} samples for {}: {speedup:.3}x",
                fit.samples
            );
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
