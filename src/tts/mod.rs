// SPDX-License-Identifier: MPL-2.0
//! Piper VITS voices: text front end and synthesis.
//!
//! The pipeline, one stage per module:
//! [`text`] (normalise, split into sentences and clauses) → a [`Phonemizer`] (espeak-ng, supplied
//! by the caller: the core does not link GPL code) → [`ids`] (phonemes to model ids, pure) →
//! [`synth`] (one ONNX Runtime run per chunk) → gain, volume and silence here, in [`Voice`].
//! [`schedule`] places the speech of timed text (cues) in one continuous output, in samples.
//!
//! [`Voice::synthesize`] calls back once per chunk — a sentence by default, a clause with
//! [`Chunking::Clause`] — and stops as soon as the callback returns [`ControlFlow::Break`]: the
//! hook a GStreamer flush or `unlock()` needs. [`Voice::synthesize_speech`] gathers the chunks
//! of one text into a [`Speech`], and [`Voice::synthesize_to_fit`] speaks faster when that is
//! longer than a given duration.
//!
//! ```no_run
//! # use std::ops::ControlFlow;
//! # use neural_media::tts::{Phonemizer, SynthesisConfig, Voice};
//! # fn demo(phonemizer: &dyn Phonemizer) -> neural_media::Result<()> {
//! let path = neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE);
//! let mut voice = Voice::load(&path, None, &Default::default())?;
//! let config = voice.default_synthesis_config();
//! voice.synthesize("Hello there. How are you?", &config, phonemizer, |chunk| {
//!     // chunk.samples: f32 mono at voice.sample_rate(); chunk.stats.rtf …
//!     ControlFlow::Continue(())
//! })?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod ids;
pub mod lookahead;
pub mod marks;
pub mod phonemize;
pub mod schedule;
pub mod ssml;
pub mod synth;
pub mod text;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

pub use config::VoiceConfig;
pub use ids::PhonemeIds;
pub use marks::{ChunkMarks, VisemeMark, WordMark};
pub use phonemize::Phonemizer;
pub use schedule::Speech;
pub use synth::{Scales, SynthStats};

use unicode_normalization::UnicodeNormalization;

use crate::engine::Overlap;
use crate::error::{Error, Result};
use crate::runtime::{ExecutionProvider, Optimization, SessionOptions};
use synth::Synthesizer;
use text::Clause;

/// What one model run (and one callback) covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunking {
    /// One run per sentence, as piper does: the best prosody.
    #[default]
    Sentence,
    /// One run per clause (`, : ;` too): the first audio comes sooner, at some cost in prosody.
    Clause,
}

/// Gain policy.
///
/// Piper peak-normalises every sentence on its own ([`Normalize::Peak`]), so a quiet sentence is
/// pushed up to full scale and the loudness jumps from one sentence to the next. The default here
/// is a fixed gain ([`Normalize::Gain`] with [`DEFAULT_GAIN`]): the same factor for every chunk of
/// every call, so the voice keeps one loudness; samples are clipped to `[-1, 1]` afterwards
/// (together with [`SynthesisConfig::volume`]: one gain stage, one clipping).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalize {
    /// The model's output as is (clipped to `[-1, 1]`).
    Off,
    /// Piper's policy: each chunk scaled so that its peak is 1.0 (silence stays silence).
    Peak,
    /// The same gain for every chunk, then clipping to `[-1, 1]`.
    Gain(f32),
}

/// Default fixed gain. Piper voices peak at about half of full scale (`en_US-joe-medium`: 0.42 to
/// 0.55 per sentence); 1.5 brings them near piper's loudness without clipping ordinary speech.
pub const DEFAULT_GAIN: f32 = 1.5;

impl Default for Normalize {
    fn default() -> Self {
        Normalize::Gain(DEFAULT_GAIN)
    }
}

/// How to synthesise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthesisConfig {
    /// Generator noise (0 makes the output deterministic together with `noise_w = 0`).
    pub noise_scale: f32,
    /// Phoneme length scale (>1 is slower).
    pub length_scale: f32,
    /// Phoneme width noise.
    pub noise_w: f32,
    /// Speaker id for multi-speaker voices (`None`: the voice's default speaker); ignored by
    /// single-speaker voices.
    pub speaker: Option<i64>,
    /// Silence appended after each sentence, in seconds.
    pub sentence_silence: f32,
    /// Unit of synthesis and of callbacks.
    pub chunking: Chunking,
    /// Gain policy.
    pub normalize: Normalize,
    /// Linear volume, applied with the gain policy's factor before the one clipping to `[-1, 1]`
    /// (1.0: the policy's loudness).
    pub volume: f32,
    /// Word marks: [`Voice::synthesize`] looks up which source words each phoneme word says
    /// ([`ChunkIds::find_words`], one phonemization per word). Visemes need nothing more than a
    /// voice with durations ([`Voice::has_durations`]).
    pub word_marks: bool,
}

impl Default for SynthesisConfig {
    /// Piper's defaults (use [`Voice::default_synthesis_config`] for a voice's own).
    fn default() -> Self {
        SynthesisConfig {
            noise_scale: config::DEFAULT_NOISE_SCALE,
            length_scale: config::DEFAULT_LENGTH_SCALE,
            noise_w: config::DEFAULT_NOISE_W,
            speaker: None,
            sentence_silence: 0.0,
            chunking: Chunking::default(),
            normalize: Normalize::default(),
            volume: 1.0,
            word_marks: false,
        }
    }
}

impl SynthesisConfig {
    fn check(&self) -> Result<()> {
        let bad = |what: &str, v: f32| Error::InvalidInput(format!("{what} is {v}"));
        for (name, v) in [("noise_scale", self.noise_scale), ("noise_w", self.noise_w)] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(name, v));
            }
        }
        if !self.length_scale.is_finite() || self.length_scale <= 0.0 {
            return Err(bad("length_scale", self.length_scale));
        }
        if !self.sentence_silence.is_finite() || self.sentence_silence < 0.0 {
            return Err(bad("sentence_silence", self.sentence_silence));
        }
        if let Normalize::Gain(g) = self.normalize
            && (!g.is_finite() || g < 0.0)
        {
            return Err(bad("gain", g));
        }
        if !self.volume.is_finite() || self.volume < 0.0 {
            return Err(bad("volume", self.volume));
        }
        Ok(())
    }

    fn scales(&self) -> Scales {
        Scales {
            noise_scale: self.noise_scale,
            length_scale: self.length_scale,
            noise_w: self.noise_w,
        }
    }
}

/// The ids of one chunk, as produced by the front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkIds {
    /// The (normalised) text of the sentence or clause.
    pub text: String,
    /// The phoneme string given to the id map, after NFD (clause punctuation included).
    pub phonemes: String,
    /// Ids and counts.
    pub ids: PhonemeIds,
    /// Whether the chunk ends a sentence.
    pub sentence_end: bool,
    /// The source words of each phoneme word, in the chunk's text, for word marks (empty until
    /// [`ChunkIds::find_words`]).
    pub words: Vec<marks::WordSource>,
}

impl ChunkIds {
    /// Looks up which source words each phoneme word says (see [`marks::find_words`]), for the
    /// word marks of [`Voice::synthesize_chunk`]. The ids do not change.
    pub fn find_words(&mut self, config: &VoiceConfig, phonemizer: &dyn Phonemizer) -> Result<()> {
        self.words = marks::find_words(self, config, phonemizer)?;
        Ok(())
    }
}

/// Each id's duration in frames, and the number of samples the model gave for them (the
/// sentence silence not included).
pub(crate) type RunFrames = (Vec<f32>, usize);

/// One piece of synthesised audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The (normalised) text of the sentence or clause.
    pub text: String,
    /// Mono f32 samples in `[-1, 1]` at [`Chunk::sample_rate`], sentence silence included.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Whether the chunk ends a sentence.
    pub sentence_end: bool,
    /// Phonemes dropped because the voice lacks them.
    pub dropped_phonemes: usize,
    /// Timings (audio seconds include the silence).
    pub stats: SynthStats,
    /// Word and viseme marks, in samples from the chunk's start (`None`: the voice has no
    /// durations, see [`Voice::has_durations`]). Word offsets are in [`Chunk::text`], or in the
    /// text given to [`Voice::synthesize`] when it made the chunk.
    pub marks: Option<ChunkMarks>,
}

/// Totals of a [`Voice::synthesize`] call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Chunks delivered to the callback.
    pub chunks: usize,
    /// Summed timings.
    pub stats: SynthStats,
    /// Phonemes dropped because the voice lacks them.
    pub dropped_phonemes: usize,
    /// Whether the callback stopped the synthesis.
    pub stopped: bool,
}

/// A duration to fit speech into, for [`Voice::synthesize_to_fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// The duration, in samples.
    pub samples: usize,
    /// The most the speech is sped up (1.3: 30 % faster).
    pub max_speedup: f64,
}

/// [`Voice::synthesize_to_fit`] aims at this fraction of the duration (phoneme durations are
/// rounded, speed is not linear in the length scale).
pub const FIT_MARGIN: f64 = 0.95;
/// Re-syntheses [`Voice::synthesize_to_fit`] tries at most.
pub const FIT_ATTEMPTS: usize = 3;

/// The next speed-up to try when speech `voiced` samples long at `speedup` is over `fit`: aimed
/// again from what the last attempt gave, capped at the maximum.
pub(crate) fn fit_speedup(speedup: f64, voiced: usize, fit: Fit) -> f64 {
    (speedup * voiced as f64 / (fit.samples as f64 * FIT_MARGIN)).min(fit.max_speedup)
}

/// One chunk of [`Voice::plan`]: its ids, and where its text lies in the planned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChunk {
    /// The chunk's ids.
    pub ids: ChunkIds,
    /// For each byte offset of the chunk's text (its length included), the planned text's.
    offsets: Vec<usize>,
}

/// `fit` for speech synthesised and sent chunk by chunk (a live cue that cannot wait for all of
/// it): each chunk's speed-up is picked before it is synthesised, from the samples per phoneme
/// id the chunks before it gave (or an earlier estimate), so that the ids still to come fit in
/// the part of the duration that is left ([`FIT_MARGIN`] included), at most `max_speedup`.
/// Nothing is synthesised twice: a chunk sent is never re-done, so a wrong guess shows as a
/// later speed-up or as speech that runs on past the duration.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedFit {
    fit: Fit,
    /// Ids not synthesised yet.
    ids_left: usize,
    /// Samples placed so far (sentence silence included).
    used: usize,
    /// Voiced samples and ids so far, at speed-up 1 (voiced samples × speed-up).
    seen: (f64, usize),
    /// Samples per id at speed-up 1 known beforehand (from earlier speech).
    prior: Option<f64>,
}

impl StreamedFit {
    /// A cue of `fit` to fill with `ids_total` ids; `prior` is samples per id at speed-up 1 from
    /// earlier speech, if known (without it, the first chunk is spoken at speed-up 1).
    pub fn new(fit: Fit, ids_total: usize, prior: Option<f64>) -> StreamedFit {
        StreamedFit {
            fit,
            ids_left: ids_total,
            used: 0,
            seen: (0.0, 0),
            prior: prior.filter(|p| p.is_finite() && *p > 0.0),
        }
    }

    /// Samples per id at speed-up 1: what this speech gave so far, else the prior.
    pub fn samples_per_id(&self) -> Option<f64> {
        match self.seen {
            (samples, ids) if ids > 0 && samples > 0.0 => Some(samples / ids as f64),
            _ => self.prior,
        }
    }

    /// The speed-up for the next chunk.
    pub fn speedup(&self) -> f64 {
        let Some(per_id) = self.samples_per_id() else {
            return 1.0;
        };
        let needed = per_id * self.ids_left as f64;
        let room = self.fit.samples as f64 * FIT_MARGIN - self.used as f64;
        if room <= 0.0 {
            return self.fit.max_speedup;
        }
        (needed / room).clamp(1.0, self.fit.max_speedup)
    }

    /// Records a chunk of `ids` ids synthesised at `speedup`: `voiced` samples of speech, `len`
    /// samples in all (its sentence silence included).
    pub fn record(&mut self, ids: usize, speedup: f64, voiced: usize, len: usize) {
        self.ids_left = self.ids_left.saturating_sub(ids);
        self.used += len;
        self.seen.0 += voiced as f64 * speedup;
        self.seen.1 += ids;
    }
}

/// Turns text into the id sequences of its chunks (the whole front end, no model needed).
/// Chunks without any known phoneme are left out.
pub fn text_to_ids(
    text: &str,
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
    chunking: Chunking,
) -> Result<Vec<ChunkIds>> {
    let mut out = Vec::new();
    for group in chunk_groups(text, chunking) {
        if let Some(chunk) = group_ids(&group.0, group.1, config, phonemizer)? {
            out.push(chunk);
        }
    }
    Ok(out)
}

/// The clause groups of each chunk, with their sentence-end flag.
fn chunk_groups(text: &str, chunking: Chunking) -> Vec<(Vec<Clause>, bool)> {
    let sentences = text::sentences(text);
    match chunking {
        Chunking::Sentence => sentences.into_iter().map(|s| (s.clauses, true)).collect(),
        Chunking::Clause => sentences
            .into_iter()
            .flat_map(|s| {
                let n = s.clauses.len();
                s.clauses
                    .into_iter()
                    .enumerate()
                    .map(move |(i, c)| (vec![c], i + 1 == n))
            })
            .collect(),
    }
}

fn group_ids(
    clauses: &[Clause],
    sentence_end: bool,
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
) -> Result<Option<ChunkIds>> {
    let mut phonemes = String::new();
    for clause in clauses {
        let raw = phonemizer.phonemize(&config.espeak_voice, &clause.text)?;
        phonemes.push_str(&ids::clause_phonemes(&raw, clause.terminator));
    }
    let phonemes: String = phonemes.nfd().collect();
    let ids = ids::phonemes_to_ids(&phonemes, config);
    if ids.mapped == 0 {
        return Ok(None);
    }
    Ok(Some(ChunkIds {
        text: text::join_clauses(clauses),
        phonemes,
        ids,
        sentence_end,
        words: Vec::new(),
    }))
}

/// Scales by the policy's gain, then by `volume`, and clips to `[-1, 1]` once. Where nothing
/// clips, the result is the same as clipping after the gain and then applying the volume.
fn apply_gain(samples: &mut [f32], normalize: Normalize, volume: f32) {
    let gain = match normalize {
        Normalize::Off => 1.0,
        Normalize::Gain(g) => g,
        Normalize::Peak => {
            let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            if peak < 1e-8 { 0.0 } else { 1.0 / peak }
        }
    };
    for s in samples.iter_mut() {
        *s = (*s * gain * volume).clamp(-1.0, 1.0);
    }
}

/// A Piper voice: its configuration and its loaded model.
#[derive(Debug)]
pub struct Voice {
    config: VoiceConfig,
    synth: Synthesizer,
    model_path: PathBuf,
    options: SessionOptions,
}

impl Voice {
    /// Loads a voice: the model, and its configuration from `config_path` (default: the model
    /// path with `.json` appended, piper's convention: [`crate::assets::descriptor_beside`]).
    /// Errors name the file at fault; a missing model is reported before its configuration.
    pub fn load(
        model_path: &Path,
        config_path: Option<&Path>,
        options: &SessionOptions,
    ) -> Result<Voice> {
        let (config, _) = crate::assets::read_descriptor(
            model_path,
            config_path,
            "voice configuration",
            VoiceConfig::load,
        )?;
        // A voice's activations are large (hundreds of MB for a long sentence): shared by
        // several elements, its runs take turns on one session rather than each overlapping run
        // having a session and an arena of its own (see `crate::engine`). Only
        // [`Voice::overlapping`] handles (of the same shared model) run side by side. So the
        // default, `Overlap::Allowed`, means `Overlap::Never` here; `Overlap::Always` loads a
        // voice for side-by-side runs (its first session is a narrow one, see `crate::engine`).
        let options = SessionOptions {
            overlap: match options.overlap {
                Overlap::Allowed => Overlap::Never,
                other => other,
            },
            // The rewrites beyond level 1 find nothing to improve in a Piper voice (the same
            // synthesis time) but take 0.1 s of each session's build (0.34 -> 0.24 s on 2 cores).
            optimization: Optimization::Basic,
            ..options.clone()
        };
        let synth = Synthesizer::load(
            model_path,
            config.sample_rate,
            config.num_speakers,
            &options,
        )?;
        tracing::info!(
            model = %model_path.display(),
            espeak_voice = %config.espeak_voice,
            sample_rate = config.sample_rate,
            speakers = config.num_speakers,
            "voice loaded"
        );
        Ok(Voice {
            config,
            synth,
            model_path: model_path.to_path_buf(),
            options,
        })
    }

    /// Another handle on this voice whose runs always overlap other runs, each on a narrow
    /// session of the same shared model within the thread budget, at the cost of one more arena
    /// per overlapping run (see [`lookahead`]). With `threads > 0` or on an accelerator it runs
    /// like [`Voice::load`]'s handle.
    pub fn overlapping(&self) -> Voice {
        self.with_overlap(Overlap::Always)
    }

    /// Another handle on the same loaded voice and [`crate::engine::Cancel`] whose runs follow
    /// `overlap` (nothing is read or built).
    pub fn with_overlap(&self, overlap: Overlap) -> Voice {
        Voice {
            config: self.config.clone(),
            synth: self.synth.with_overlap(overlap),
            model_path: self.model_path.clone(),
            options: SessionOptions {
                overlap,
                ..self.options.clone()
            },
        }
    }

    /// Makes `cancel` cancel this voice's runs: synthesis then fails with
    /// [`crate::Error::Cancelled`] until the handle is reset.
    pub fn set_cancel(&mut self, cancel: &crate::engine::Cancel) {
        self.synth.set_cancel(cancel);
    }

    /// The voice configuration.
    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    /// The model file.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    /// The execution provider in use.
    pub fn provider(&self) -> ExecutionProvider {
        self.synth.provider()
    }

    /// Whether the voice gives each phoneme's duration (a second output, see
    /// [`synth::DURATIONS`]): without them, chunks carry no marks.
    pub fn has_durations(&self) -> bool {
        self.synth.has_durations()
    }

    /// A synthesis configuration with the voice's own inference defaults.
    pub fn default_synthesis_config(&self) -> SynthesisConfig {
        let inference = self.config.inference;
        SynthesisConfig {
            noise_scale: inference.noise_scale,
            length_scale: inference.length_scale,
            noise_w: inference.noise_w,
            ..SynthesisConfig::default()
        }
    }

    /// Synthesises `text`, calling `on_chunk` once per chunk (see [`Chunking`]) as soon as it is
    /// ready. Returning [`ControlFlow::Break`] stops before the next chunk is phonemised or
    /// synthesised. Text without anything to say gives no chunk and no error.
    pub fn synthesize<F>(
        &mut self,
        text: &str,
        config: &SynthesisConfig,
        phonemizer: &dyn Phonemizer,
        mut on_chunk: F,
    ) -> Result<Summary>
    where
        F: FnMut(Chunk) -> ControlFlow<()>,
    {
        config.check()?;
        let mut summary = Summary::default();
        let word_marks = config.word_marks && self.has_durations();
        let mut source = marks::SourceCursor::new(text);
        for (clauses, sentence_end) in chunk_groups(text, config.chunking) {
            let Some(mut chunk_ids) = group_ids(&clauses, sentence_end, &self.config, phonemizer)?
            else {
                continue;
            };
            if word_marks {
                chunk_ids.find_words(&self.config, phonemizer)?;
            }
            let offsets = source.locate(&chunk_ids.text);
            let chunk = self.synthesize_planned(
                PlannedChunk {
                    ids: chunk_ids,
                    offsets,
                },
                config,
            )?;
            summary.chunks += 1;
            summary.stats.add(&chunk.stats);
            summary.dropped_phonemes += chunk.dropped_phonemes;
            if on_chunk(chunk).is_break() {
                summary.stopped = true;
                break;
            }
        }
        Ok(summary)
    }

    /// The whole front end of `text` at once (see [`Voice::synthesize`]): its chunks' ids, with
    /// the source words of each phoneme word when `config.word_marks` asks for them and the voice
    /// has durations. [`Voice::synthesize_planned`] then speaks them one by one, each with a
    /// configuration of its own (a caller that streams a cue picks each chunk's speed).
    pub fn plan(
        &self,
        text: &str,
        config: &SynthesisConfig,
        phonemizer: &dyn Phonemizer,
    ) -> Result<Vec<PlannedChunk>> {
        let word_marks = config.word_marks && self.has_durations();
        let mut source = marks::SourceCursor::new(text);
        let mut plan = Vec::new();
        for (clauses, sentence_end) in chunk_groups(text, config.chunking) {
            let Some(mut ids) = group_ids(&clauses, sentence_end, &self.config, phonemizer)? else {
                continue;
            };
            if word_marks {
                ids.find_words(&self.config, phonemizer)?;
            }
            let offsets = source.locate(&ids.text);
            plan.push(PlannedChunk { ids, offsets });
        }
        Ok(plan)
    }

    /// Synthesises one chunk of a [`Voice::plan`] ([`Voice::synthesize_chunk`]); its word marks'
    /// offsets are in the planned text.
    pub fn synthesize_planned(
        &mut self,
        planned: PlannedChunk,
        config: &SynthesisConfig,
    ) -> Result<Chunk> {
        let offsets = planned.offsets;
        let mut chunk = self.synthesize_chunk(planned.ids, config)?;
        if let (Some(marks), Some(last)) = (chunk.marks.as_mut(), offsets.len().checked_sub(1)) {
            for word in &mut marks.words {
                word.start = offsets[word.start.min(last)];
                word.end = offsets[word.end.min(last)];
            }
        }
        Ok(chunk)
    }

    /// Synthesises `text` into one [`Speech`]: its chunks (see [`Voice::synthesize`]) one after
    /// the other. `keep_going` is asked after each chunk; when it answers false, synthesis stops
    /// and the result is `Ok(None)`.
    pub fn synthesize_speech(
        &mut self,
        text: &str,
        config: &SynthesisConfig,
        phonemizer: &dyn Phonemizer,
        mut keep_going: impl FnMut() -> bool,
    ) -> Result<Option<Speech>> {
        config.check()?;
        let plan = self.plan(text, config, phonemizer)?;
        self.speak_plan(&plan, config, &mut keep_going)
    }

    /// A [`Voice::plan`]'s chunks synthesised one after the other into one [`Speech`];
    /// `Ok(None)` when `keep_going`, asked after each chunk, answers false.
    fn speak_plan(
        &mut self,
        plan: &[PlannedChunk],
        config: &SynthesisConfig,
        keep_going: &mut impl FnMut() -> bool,
    ) -> Result<Option<Speech>> {
        let silence = self.silence_samples(config.sentence_silence);
        let mut speech = Speech::default();
        for planned in plan {
            speech.push(self.synthesize_planned(planned.clone(), config)?, silence);
            if !keep_going() {
                return Ok(None);
            }
        }
        Ok(Some(speech))
    }

    /// [`Voice::synthesize_speech`], made to last at most `fit.samples` up to its last word:
    /// while it is longer, it is synthesised again faster — the length scale divided by the
    /// speed-up that would fit with a 5 % margin ([`FIT_MARGIN`]), at most `fit.max_speedup`,
    /// [`FIT_ATTEMPTS`] times at most. What still does not fit is returned as it is (the caller
    /// shifts it). `infer_seconds` counts every attempt.
    pub fn synthesize_to_fit(
        &mut self,
        text: &str,
        config: &SynthesisConfig,
        phonemizer: &dyn Phonemizer,
        fit: Fit,
        mut keep_going: impl FnMut() -> bool,
    ) -> Result<Option<Speech>> {
        // The front end runs once: every attempt speaks the same plan, at another length scale.
        config.check()?;
        let plan = self.plan(text, config, phonemizer)?;
        let Some(mut speech) = self.speak_plan(&plan, config, &mut keep_going)? else {
            return Ok(None);
        };
        let rate = f64::from(self.sample_rate());
        let mut config = *config;
        let base_scale = f64::from(config.length_scale);
        let mut speedup = 1.0f64;
        for _ in 0..FIT_ATTEMPTS {
            if speech.voiced_len() <= fit.samples || speedup >= fit.max_speedup {
                break;
            }
            speedup = fit_speedup(speedup, speech.voiced_len(), fit);
            tracing::debug!(
                "speech {:.3} s for {:.3} s: speeding up {speedup:.3}x",
                speech.voiced_len() as f64 / rate,
                fit.samples as f64 / rate
            );
            config.length_scale = (base_scale / speedup) as f32;
            let infer = speech.infer_seconds;
            config.check()?;
            let Some(faster) = self.speak_plan(&plan, &config, &mut keep_going)? else {
                return Ok(None);
            };
            speech = faster;
            speech.infer_seconds += infer;
        }
        if speech.voiced_len() > fit.samples {
            tracing::debug!(
                "still {:.3} s over at {speedup:.2}x",
                (speech.voiced_len() - fit.samples) as f64 / rate
            );
        }
        Ok(Some(speech))
    }

    /// Synthesises one chunk of the front end's output ([`text_to_ids`]): one model run, the
    /// configured gain and volume, and the sentence silence when the chunk ends a sentence. With this and
    /// [`text_to_ids`] a caller can pace the work itself, one chunk at a time.
    pub fn synthesize_chunk(
        &mut self,
        chunk_ids: ChunkIds,
        config: &SynthesisConfig,
    ) -> Result<Chunk> {
        Ok(self.synthesize_chunk_frames(chunk_ids, config)?.0)
    }

    /// [`Voice::synthesize_chunk`], with each id's duration in frames and the number of samples
    /// the model gave (before the sentence silence) when the voice has durations.
    pub(crate) fn synthesize_chunk_frames(
        &mut self,
        chunk_ids: ChunkIds,
        config: &SynthesisConfig,
    ) -> Result<(Chunk, Option<RunFrames>)> {
        config.check()?;
        let (mut samples, durations, mut stats) = self.synth.run_with_durations(
            &chunk_ids.ids.ids,
            config.scales(),
            self.speaker(config),
        )?;
        let voiced = samples.len();
        let marks = durations.as_ref().map(|frames| {
            marks::chunk_marks(
                &chunk_ids.text,
                &chunk_ids.phonemes,
                &chunk_ids.words,
                frames,
                voiced,
                &self.config,
            )
        });
        apply_gain(&mut samples, config.normalize, config.volume);
        let silence = (config.sentence_silence * self.config.sample_rate as f32).round() as usize;
        if chunk_ids.sentence_end && silence > 0 {
            samples.resize(samples.len() + silence, 0.0);
            stats = SynthStats::new(
                stats.infer_seconds,
                samples.len() as f64 / f64::from(self.config.sample_rate),
            );
        }
        if chunk_ids.ids.dropped > 0 {
            tracing::warn!(
                dropped = chunk_ids.ids.dropped,
                text = %chunk_ids.text,
                "phonemes missing from the voice were dropped"
            );
        }
        let chunk = Chunk {
            text: chunk_ids.text,
            samples,
            sample_rate: self.config.sample_rate,
            sentence_end: chunk_ids.sentence_end,
            dropped_phonemes: chunk_ids.ids.dropped,
            stats,
            marks,
        };
        Ok((chunk, durations.map(|frames| (frames, voiced))))
    }

    /// Synthesises one id sequence (no sentence silence), applying the configured gain and
    /// volume. Ids must be within the voice's id map.
    pub fn synthesize_ids(&mut self, ids: &[i64], config: &SynthesisConfig) -> Result<Vec<f32>> {
        config.check()?;
        let count = self.config.id_count();
        if let Some(bad) = ids.iter().find(|&&id| !(0..count).contains(&id)) {
            return Err(Error::InvalidInput(format!(
                "phoneme id {bad} outside the voice's range 0..{count}"
            )));
        }
        let (mut samples, _) = self.synth.run(ids, config.scales(), self.speaker(config))?;
        apply_gain(&mut samples, config.normalize, config.volume);
        Ok(samples)
    }

    fn speaker(&self, config: &SynthesisConfig) -> Option<i64> {
        self.config
            .multi_speaker()
            .then(|| config.speaker.unwrap_or(self.config.default_speaker_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Voice>();
        assert_send::<Chunk>();
    }

    #[test]
    fn gain_policies() {
        let mut s = vec![0.25, -0.5, 0.1];
        apply_gain(&mut s, Normalize::Peak, 1.0);
        assert_eq!(s, vec![0.5, -1.0, 0.2]);
        let mut s = vec![0.25, -0.9];
        apply_gain(&mut s, Normalize::Gain(2.0), 1.0);
        assert_eq!(s, vec![0.5, -1.0]);
        let mut s = vec![0.0; 4];
        apply_gain(&mut s, Normalize::Peak, 1.0);
        assert_eq!(s, vec![0.0; 4]);
        let mut s = vec![1.5, 0.5];
        apply_gain(&mut s, Normalize::Off, 1.0);
        assert_eq!(s, vec![1.0, 0.5]);
    }

    #[test]
    fn volume_is_one_stage_with_the_gain() {
        let gained = |s: f32| (s * 1.5f32).clamp(-1.0, 1.0);
        // Where nothing clips: the same as the gain, then the volume.
        let input = [0.1f32, -0.3, 0.6, -0.66];
        let mut s = input.to_vec();
        apply_gain(&mut s, Normalize::Gain(1.5), 0.5);
        for (out, x) in s.iter().zip(input) {
            assert_eq!(*out, gained(x) * 0.5);
        }
        // Where the gain alone clipped, the volume now applies to the unclipped value.
        let mut s = vec![0.9f32, -0.8];
        apply_gain(&mut s, Normalize::Gain(1.5), 0.5);
        assert_eq!(s, vec![0.9 * 1.5 * 0.5, -0.8 * 1.5 * 0.5]);
        // Clipping happens once, after both.
        let mut s = vec![0.5f32, -0.9];
        apply_gain(&mut s, Normalize::Gain(1.5), 2.0);
        assert_eq!(s, vec![1.0, -1.0]);
    }

    #[test]
    fn fit_aims_below_the_duration_and_is_capped() {
        let fit = Fit {
            samples: 950,
            max_speedup: 1.3,
        };
        // 1100 samples for 950: 1100 / (950 * 0.95).
        assert!((fit_speedup(1.0, 1100, fit) - 1100.0 / 902.5).abs() < 1e-12);
        // Aimed again from the last attempt's speed.
        assert!((fit_speedup(1.1, 950, fit) - 1.1 * 950.0 / 902.5).abs() < 1e-12);
        assert_eq!(fit_speedup(1.0, 5000, fit), 1.3);
        let nothing = Fit {
            samples: 0,
            max_speedup: 2.0,
        };
        assert_eq!(fit_speedup(1.0, 10, nothing), 2.0);
    }

    #[test]
    fn streamed_fit_aims_the_rest_at_what_is_left() {
        let fit = Fit {
            samples: 1000,
            max_speedup: 1.3,
        };
        // Nothing known yet: the first chunk at speed 1.
        let mut streamed = StreamedFit::new(fit, 100, None);
        assert_eq!(streamed.speedup(), 1.0);
        // 40 ids gave 480 samples: 12 per id, 60 ids (720 samples) left for 950 - 480.
        streamed.record(40, 1.0, 480, 480);
        assert_eq!(streamed.samples_per_id(), Some(12.0));
        assert_eq!(streamed.speedup(), 1.3, "capped");
        let mut wide = StreamedFit::new(
            Fit {
                max_speedup: 2.0,
                ..fit
            },
            100,
            None,
        );
        wide.record(40, 1.0, 480, 480);
        assert!((wide.speedup() - 720.0 / 470.0).abs() < 1e-12);
        // It fits: speed 1.
        let mut easy = StreamedFit::new(fit, 100, Some(5.0));
        assert_eq!(easy.speedup(), 1.0);
        // A prior too fast for the cue picks the first chunk's speed-up: 12 * 80 / 950.
        let tight = StreamedFit::new(fit, 80, Some(12.0));
        assert!((tight.speedup() - 960.0 / 950.0).abs() < 1e-12);
        // Samples seen at a speed-up count at speed 1 (6 at 1.2 is 7.2 per id).
        easy.record(10, 1.2, 60, 80);
        assert!((easy.samples_per_id().unwrap() - 7.2).abs() < 1e-12);
        // No room left: the most speed-up.
        easy.record(10, 1.0, 1000, 1000);
        assert_eq!(easy.speedup(), 1.3);
    }

    #[test]
    fn config_checks() {
        assert!(SynthesisConfig::default().check().is_ok());
        for bad in [
            SynthesisConfig {
                length_scale: 0.0,
                ..Default::default()
            },
            SynthesisConfig {
                noise_scale: f32::NAN,
                ..Default::default()
            },
            SynthesisConfig {
                sentence_silence: -1.0,
                ..Default::default()
            },
            SynthesisConfig {
                normalize: Normalize::Gain(f32::INFINITY),
                ..Default::default()
            },
            SynthesisConfig {
                volume: -0.5,
                ..Default::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    struct Letters;
    impl Phonemizer for Letters {
        fn phonemize(&self, _voice: &str, text: &str) -> Result<String> {
            Ok(text
                .chars()
                .filter(|c| c.is_alphabetic() || *c == ' ')
                .collect())
        }
    }

    #[test]
    fn front_end_chunks() {
        let config = VoiceConfig::parse(
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "x"},
                "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [4],
                                   ",": [5], ".": [6], "?": [7]}}"#,
        )
        .unwrap();
        let by_sentence = text_to_ids("a, a? a", &config, &Letters, Chunking::Sentence).unwrap();
        assert_eq!(by_sentence.len(), 2);
        assert_eq!(by_sentence[0].phonemes, "a, a?");
        assert_eq!(
            by_sentence[0].ids.ids,
            vec![1, 0, 4, 0, 5, 0, 3, 0, 4, 0, 7, 0, 2]
        );
        assert_eq!(by_sentence[1].text, "a");
        let by_clause = text_to_ids("a, a? a", &config, &Letters, Chunking::Clause).unwrap();
        let flags: Vec<_> = by_clause
            .iter()
            .map(|c| (c.text.as_str(), c.sentence_end))
            .collect();
        assert_eq!(flags, vec![("a,", false), ("a?", true), ("a", true)]);
        assert!(
            text_to_ids("...", &config, &Letters, Chunking::Sentence)
                .unwrap()
                .is_empty()
        );
    }
}
