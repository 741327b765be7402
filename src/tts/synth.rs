// SPDX-License-Identifier: MPL-2.0
//! Phoneme ids to samples: one run of the Piper VITS model.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use ort::session::SessionInputValue;
use ort::value::Tensor;

use crate::engine::{Cancel, Overlap};
use crate::error::{Error, Result};
use crate::runtime::{ExecutionProvider, Model, SessionOptions};

/// Phoneme ids, int64 `[1, n]`.
pub const INPUT: &str = "input";
/// Number of ids, int64 `[1]`.
pub const INPUT_LENGTHS: &str = "input_lengths";
/// `[noise_scale, length_scale, noise_w]`, f32 `[3]`.
pub const SCALES: &str = "scales";
/// Speaker id, int64 `[1]` (multi-speaker voices only).
pub const SID: &str = "sid";
/// The audio, f32 `[1, 1, 1, samples]` (the first output).
pub const OUTPUT: &str = "output";
/// Each id's duration in decoder frames, f32 `[1, 1, ids]`: the output of the graph's only `Ceil`
/// node, which `scripts/piper-add-durations.py` makes a second output. Optional.
pub const DURATIONS: &str = "/Ceil_output_0";

/// The three VITS scales.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// Generator noise.
    pub noise_scale: f32,
    /// Phoneme length scale (>1 is slower).
    pub length_scale: f32,
    /// Phoneme width noise.
    pub noise_w: f32,
}

/// Timings of a synthesis step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SynthStats {
    /// Seconds spent in the model.
    pub infer_seconds: f64,
    /// Seconds of audio produced.
    pub audio_seconds: f64,
    /// Real-time factor: `infer_seconds / audio_seconds` (below 1 is faster than real time).
    pub rtf: f64,
}

impl SynthStats {
    /// Stats from the two durations.
    pub fn new(infer_seconds: f64, audio_seconds: f64) -> SynthStats {
        SynthStats {
            infer_seconds,
            audio_seconds,
            rtf: if audio_seconds > 0.0 {
                infer_seconds / audio_seconds
            } else {
                0.0
            },
        }
    }

    /// Adds another step's durations.
    pub fn add(&mut self, other: &SynthStats) {
        *self = SynthStats::new(
            self.infer_seconds + other.infer_seconds,
            self.audio_seconds + other.audio_seconds,
        );
    }
}

/// A loaded Piper VITS model.
#[derive(Debug)]
pub struct Synthesizer {
    model: Model,
    sample_rate: u32,
    num_speakers: u32,
    /// Whether the model has the [`DURATIONS`] output.
    durations: bool,
}

impl Synthesizer {
    /// Loads the model and checks its inputs (with `sid` when `num_speakers > 1`) and output.
    /// [`crate::tts::Voice::load`] loads voices whose runs do not overlap (`options.overlap`).
    pub fn load(
        path: &Path,
        sample_rate: u32,
        num_speakers: u32,
        options: &SessionOptions,
    ) -> Result<Synthesizer> {
        let model = Model::load(path, options)?;
        let mut inputs = vec![INPUT, INPUT_LENGTHS, SCALES];
        if num_speakers > 1 {
            inputs.push(SID);
        }
        model.require_io(&inputs, &[])?;
        if model.inspect(|session| session.outputs().is_empty())? {
            return Err(Error::model(path, "the model has no output"));
        }
        let durations = model.require_io(&[], &[OUTPUT, DURATIONS]).is_ok();
        if !durations {
            tracing::debug!(
                model = %path.display(),
                "the voice has no phoneme durations output ({DURATIONS}): no word or viseme \
                 marks (scripts/piper-add-durations.py adds it)"
            );
        }
        Ok(Synthesizer {
            model,
            sample_rate,
            num_speakers,
            durations,
        })
    }

    /// The execution provider in use.
    pub fn provider(&self) -> ExecutionProvider {
        self.model.provider()
    }

    /// Another handle on the same model, whose runs follow `overlap`.
    pub fn with_overlap(&self, overlap: Overlap) -> Synthesizer {
        Synthesizer {
            model: self.model.with_overlap(overlap),
            sample_rate: self.sample_rate,
            num_speakers: self.num_speakers,
            durations: self.durations,
        }
    }

    /// Makes `cancel` cancel this voice's runs.
    pub fn set_cancel(&mut self, cancel: &Cancel) {
        self.model.set_cancel(cancel);
    }

    /// Whether the model gives each id's duration ([`DURATIONS`]).
    pub fn has_durations(&self) -> bool {
        self.durations
    }

    /// Runs the model on one id sequence; `speaker` is required by multi-speaker voices (and
    /// ignored by others). Returns the raw samples (f32 at the voice rate) and timings.
    pub fn run(
        &mut self,
        ids: &[i64],
        scales: Scales,
        speaker: Option<i64>,
    ) -> Result<(Vec<f32>, SynthStats)> {
        let (samples, _, stats) = self.run_with_durations(ids, scales, speaker)?;
        Ok((samples, stats))
    }

    /// [`Synthesizer::run`], with each id's duration in frames when the model has them (one per
    /// id; `None` without the [`DURATIONS`] output).
    #[allow(clippy::type_complexity)]
    pub fn run_with_durations(
        &mut self,
        ids: &[i64],
        scales: Scales,
        speaker: Option<i64>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>, SynthStats)> {
        if ids.is_empty() {
            return Err(Error::InvalidInput("no phoneme ids".into()));
        }
        let len = i64::try_from(ids.len())
            .map_err(|_| Error::InvalidInput("too many phoneme ids".into()))?;
        let tensor_error = |e: ort::Error| Error::inference(format!("cannot build inputs: {e}"));
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (
                INPUT.into(),
                Tensor::from_array(([1usize, ids.len()], ids.to_vec()))
                    .map_err(tensor_error)?
                    .into(),
            ),
            (
                INPUT_LENGTHS.into(),
                Tensor::from_array(([1usize], vec![len]))
                    .map_err(tensor_error)?
                    .into(),
            ),
            (
                SCALES.into(),
                Tensor::from_array((
                    [3usize],
                    vec![scales.noise_scale, scales.length_scale, scales.noise_w],
                ))
                .map_err(tensor_error)?
                .into(),
            ),
        ];
        if self.num_speakers > 1 {
            let sid = speaker.unwrap_or(0);
            if !(0..i64::from(self.num_speakers)).contains(&sid) {
                return Err(Error::InvalidInput(format!(
                    "speaker {sid} out of range (the voice has {} speakers)",
                    self.num_speakers
                )));
            }
            inputs.push((
                SID.into(),
                Tensor::from_array(([1usize], vec![sid]))
                    .map_err(tensor_error)?
                    .into(),
            ));
        }

        let start = Instant::now();
        let with_durations = self.durations;
        let (samples, durations) = self
            .model
            .run(inputs, |outputs| {
                if outputs.len() == 0 {
                    return Err(Error::inference("voice model returned no output"));
                }
                let audio = if with_durations {
                    &outputs[OUTPUT]
                } else {
                    &outputs[0]
                };
                let (_, samples) = audio
                    .try_extract_tensor::<f32>()
                    .map_err(|e| Error::inference(format!("voice model output: {e}")))?;
                let durations = if with_durations {
                    let (_, frames) = outputs[DURATIONS]
                        .try_extract_tensor::<f32>()
                        .map_err(|e| Error::inference(format!("voice durations: {e}")))?;
                    // One per id; anything else is not the durations we know.
                    (frames.len() == ids.len()).then(|| frames.to_vec())
                } else {
                    None
                };
                Ok((samples.to_vec(), durations))
            })
            .map_err(|e| match e {
                Error::Inference(reason) => Error::inference(format!("voice model: {reason}")),
                other => other,
            })?;
        let infer_seconds = start.elapsed().as_secs_f64();
        let stats = SynthStats::new(
            infer_seconds,
            samples.len() as f64 / f64::from(self.sample_rate),
        );
        tracing::debug!(
            ids = ids.len(),
            samples = samples.len(),
            infer_seconds,
            rtf = stats.rtf,
            "synthesised"
        );
        Ok((samples, durations, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_rtf() {
        let mut s = SynthStats::new(0.5, 2.0);
        assert_eq!(s.rtf, 0.25);
        s.add(&SynthStats::new(0.5, 2.0));
        assert_eq!((s.infer_seconds, s.audio_seconds, s.rtf), (1.0, 4.0, 0.25));
        assert_eq!(SynthStats::new(1.0, 0.0).rtf, 0.0);
    }
}
