// SPDX-License-Identifier: MPL-2.0
//! A voice speaking the [`Step`]s of an SSML document: each run at its prosody (the length
//! scale times [`Prosody::length`], the volume times [`Prosody::volume`]), silence for breaks,
//! and the sample offset of each mark.

use super::{Prosody, Step};
use crate::error::Result;
use crate::tts::config::PAD;
use crate::tts::marks::IdTimes;
use crate::tts::text::CLAUSE_PUNCTUATION;
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

/// How far around a word boundary's separator the quietest point to cut at is looked for.
pub const BOUNDARY_SEARCH_SECONDS: f32 = 0.002;

/// The window whose energy is compared when looking for the quietest point.
pub const QUIET_WINDOW_SECONDS: f32 = 0.002;

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

    /// Synthesises one [`Step::Run`] at its prosody ([`Voice::synthesize_chunk`]), with the
    /// breaks and marks `inside` it: each break's silence is inserted, and each mark placed, at
    /// its word boundary ([`Voice::boundary_sample`]); the marks are returned with their offsets
    /// in the chunk. Where a sentence is cut ([`CUT_MARGIN_SECONDS`]): the run's own trailing
    /// pause is trimmed when the run does not end its sentence, and its leading pause when
    /// `after_cut` (the run before it did not end its sentence).
    pub fn synthesize_ssml_run(
        &mut self,
        ids: ChunkIds,
        prosody: Prosody,
        inside: &[(usize, Step)],
        config: &SynthesisConfig,
        after_cut: bool,
    ) -> Result<(Chunk, Vec<SpokenMark>)> {
        let sentence_end = ids.sentence_end;
        let id_list = if inside.is_empty() {
            Vec::new()
        } else {
            ids.ids.ids.clone()
        };
        let (mut chunk, durations) =
            self.synthesize_chunk_frames(ids, &prosody_config(config, prosody))?;
        let voiced = match &durations {
            Some((_, voiced)) => *voiced,
            None if sentence_end => chunk
                .samples
                .len()
                .saturating_sub(self.silence_samples(config.sentence_silence)),
            None => chunk.samples.len(),
        };
        let mut cuts = Vec::with_capacity(inside.len());
        for (id, _) in inside {
            let cut = self.boundary_sample(
                &id_list,
                *id,
                durations.as_ref().map(|(frames, _)| frames.as_slice()),
                &chunk.samples[..voiced.min(chunk.samples.len())],
            );
            cuts.push(cut.max(cuts.last().copied().unwrap_or(0)));
        }
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
        let start = start.min(chunk.samples.len());
        chunk.samples.drain(..start);
        let len = chunk.samples.len();
        let cuts: Vec<usize> = cuts
            .iter()
            .map(|c| c.saturating_sub(start).min(len))
            .collect();
        // The silences inserted: (where, how many samples).
        let mut added = Vec::new();
        let mut marks = Vec::new();
        if !inside.is_empty() {
            let mut samples = Vec::with_capacity(len);
            let mut from = 0;
            for ((_, step), &cut) in inside.iter().zip(&cuts) {
                samples.extend_from_slice(&chunk.samples[from..cut]);
                from = cut;
                match step {
                    Step::Silence(seconds) => {
                        let n = self.silence_samples(*seconds);
                        samples.resize(samples.len() + n, 0.0);
                        added.push((cut, n));
                    }
                    Step::Mark(name) => marks.push(SpokenMark {
                        name: name.clone(),
                        offset: samples.len(),
                    }),
                    Step::Run { .. } => {}
                }
            }
            samples.extend_from_slice(&chunk.samples[from..]);
            chunk.samples = samples;
            chunk.stats = crate::tts::SynthStats::new(
                chunk.stats.infer_seconds,
                chunk.samples.len() as f64 / f64::from(self.sample_rate()),
            );
        }
        // Marks of the chunk: moved with the trimmed start and the inserted silences.
        if let Some(chunk_marks) = chunk.marks.as_mut() {
            let moved = |sample: usize, at_end: bool| {
                let s = sample.saturating_sub(start).min(len);
                let extra: usize = added
                    .iter()
                    .filter(|&&(cut, _)| if at_end { cut < s } else { cut <= s })
                    .map(|&(_, n)| n)
                    .sum();
                s + extra
            };
            for w in &mut chunk_marks.words {
                let (from, to) = (moved(w.sample, false), moved(w.sample + w.len, true));
                (w.sample, w.len) = (from, to.saturating_sub(from));
            }
            for v in &mut chunk_marks.visemes {
                let (from, to) = (moved(v.sample, false), moved(v.sample + v.len, true));
                (v.sample, v.len) = (from, to.saturating_sub(from));
            }
            chunk_marks.visemes.retain(|v| v.len > 0);
        }
        Ok((chunk, marks))
    }

    /// The sample of a run's output where a break or mark at id `id` goes: the durations give
    /// the word boundary (the frames of the ids before it times the hop, samples / frames of the
    /// run), and the cut is the quietest point (least energy over
    /// [`QUIET_WINDOW_SECONDS`]) of the separator there (space, clause punctuation, and their
    /// pads; not the last phoneme of the word before, whose stop closure may be quieter), give
    /// or take [`BOUNDARY_SEARCH_SECONDS`]. Without durations the boundary
    /// is estimated from the id's position in the run. `samples` are the run's output, without
    /// sentence silence.
    pub fn boundary_sample(
        &self,
        ids: &[i64],
        id: usize,
        frames: Option<&[f32]>,
        samples: &[f32],
    ) -> usize {
        let len = samples.len();
        let id = id.min(ids.len());
        let config = self.config();
        let is = |x: i64, c: char| config.ids(c).is_some_and(|ids| ids.contains(&x));
        let separator = |x: i64| {
            [' ']
                .into_iter()
                .chain(CLAUSE_PUNCTUATION)
                .any(|c| is(x, c))
        };
        // The separator's ids (with the pads after them), not the pad of the word before.
        let in_gap =
            |i: usize| separator(ids[i]) || (is(ids[i], PAD) && i > 0 && separator(ids[i - 1]));
        let mut lo = id;
        while lo > 0 && in_gap(lo - 1) {
            lo -= 1;
        }
        let mut hi = id;
        while hi < ids.len() && in_gap(hi) {
            hi += 1;
        }
        let sample_at: Box<dyn Fn(usize) -> usize> = match frames {
            Some(frames) if frames.len() == ids.len() => {
                let times = IdTimes::new(frames, len);
                Box::new(move |i: usize| times.sample_at(i))
            }
            _ => {
                let n = ids.len().max(1);
                Box::new(move |i: usize| i * len / n)
            }
        };
        let search = self.silence_samples(BOUNDARY_SEARCH_SECONDS);
        let nominal = sample_at(id);
        let from = sample_at(lo).min(nominal).saturating_sub(search);
        let to = (sample_at(hi).max(nominal) + search).min(len);
        let half = self.silence_samples(QUIET_WINDOW_SECONDS / 2.0).max(1);
        let energy = |c: usize| -> f32 {
            samples[c.saturating_sub(half)..(c + half).min(len)]
                .iter()
                .map(|s| s * s)
                .sum()
        };
        (from..=to)
            .map(|c| (energy(c), c.abs_diff(nominal), c))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map_or(nominal, |(_, _, c)| c)
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
                Step::Run {
                    ids,
                    prosody,
                    inside,
                } => {
                    let (chunk, marks) =
                        self.synthesize_ssml_run(ids.clone(), *prosody, inside, config, cut)?;
                    cut = !ids.sentence_end;
                    let at = out.speech.samples.len();
                    out.marks.extend(marks.into_iter().map(|mut m| {
                        m.offset += at;
                        m
                    }));
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
