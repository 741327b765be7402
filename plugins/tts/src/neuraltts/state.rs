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
