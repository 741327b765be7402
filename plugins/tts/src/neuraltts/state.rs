// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts`'s stream state: the negotiated format, the segment and the schedule of the audio
//! in samples. Locked briefly by the streaming thread, never across a model run.

use neural_media::runtime::ExecutionProvider;
use neural_media::tts::Voice;
use neural_media::tts::schedule::{Block, Cue, Schedule};

use crate::output::Timeline;
use crate::ssml::Warned;

/// Longest silence buffer sent between cues.
const SILENCE_BLOCK: gst::ClockTime = gst::ClockTime::from_mseconds(100);

/// The stream's state: never locked across a model run.
pub struct State {
    pub provider: ExecutionProvider,
    /// Negotiated sample format; `None` until caps went out.
    pub format: Option<gst_audio::AudioFormat>,
    /// Whether the input is pango markup.
    pub markup: bool,
    /// Whether the input is SSML (`application/ssml+xml`).
    pub ssml: bool,
    /// SSML warnings posted in this run.
    pub warned: Warned,
    pub segment: gst::FormattedSegment<gst::ClockTime>,
    /// Sample 0 at the segment start.
    pub timeline: Timeline,
    /// The output in samples: what is pushed, held back, and still owed up to the last cue.
    pub schedule: Schedule,
    /// What live cues cost, to know which to speak clause by clause.
    pub live: LiveRates,
}

/// What synthesis cost and gave so far, per phoneme id: to tell, before a live cue is
/// synthesised, whether it would miss the latency budget, and how fast to speak it in parts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveRates {
    /// Seconds in the model per id (whole cues: every `fit` pass included).
    pub infer_per_id: Option<f64>,
    /// Voiced samples per id at speed-up 1.
    pub samples_per_id: Option<f64>,
}

impl LiveRates {
    /// Moves an estimate towards a new measurement (the last few cues count most).
    fn update(estimate: &mut Option<f64>, measured: f64) {
        if measured.is_finite() && measured > 0.0 {
            *estimate = Some(estimate.map_or(measured, |e| 0.5 * e + 0.5 * measured));
        }
    }

    /// A cue of `ids` ids synthesised whole in `infer_seconds`.
    pub fn record_whole(&mut self, infer_seconds: f64, ids: usize) {
        if ids > 0 {
            Self::update(&mut self.infer_per_id, infer_seconds / ids as f64);
        }
    }

    /// A cue spoken in parts: `infer_seconds` for `ids` ids, `samples_per_id` at speed-up 1.
    pub fn record_parts(&mut self, infer_seconds: f64, ids: usize, samples_per_id: Option<f64>) {
        if ids > 0 {
            Self::update(&mut self.infer_per_id, infer_seconds / ids as f64);
        }
        if let Some(per_id) = samples_per_id {
            Self::update(&mut self.samples_per_id, per_id);
        }
    }
}

impl State {
    pub fn new(voice: &Voice) -> State {
        let timeline = Timeline::new(voice.sample_rate());
        State {
            schedule: Schedule::new(timeline.samples_in(SILENCE_BLOCK) as usize),
            provider: voice.provider(),
            format: None,
            markup: false,
            ssml: false,
            warned: Warned::default(),
            segment: gst::FormattedSegment::new(),
            timeline,
            live: LiveRates::default(),
        }
    }

    /// The buffers of the schedule's blocks.
    pub fn buffers(&self, blocks: Vec<Block>) -> Vec<gst::Buffer> {
        let format = self.format.unwrap_or(gst_audio::AudioFormat::S16le);
        let to_buffer = |block| self.timeline.block_buffer(&block, format);
        blocks.into_iter().map(to_buffer).collect()
    }

    /// The cue a text buffer stands for, in samples.
    pub fn cue(&self, pts: Option<gst::ClockTime>, duration: Option<gst::ClockTime>) -> Cue {
        Cue {
            start: pts.map(|pts| self.timeline.sample_at(pts)),
            len: duration
                .filter(|d| !d.is_zero() && pts.is_some())
                .map(|d| self.timeline.samples_in(d) as usize),
        }
    }
}
