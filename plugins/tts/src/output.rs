// SPDX-License-Identifier: GPL-3.0-or-later
//! Output shared by `neuralttssrc` and `neuraltts`: sample positions ↔ running-stream time,
//! audio buffers with timestamps and offsets, and the `neuraltts-sentence` element message.

use gst::prelude::*;
use neural_media::tts::schedule::Block;

use crate::settings::encode;

/// Sample positions of one output stream and their times: sample 0 is at `origin`.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Time of sample 0.
    pub origin: gst::ClockTime,
    /// Samples per second.
    rate: u64,
}

impl Timeline {
    /// A timeline at `rate` Hz from time 0.
    pub fn new(rate: u32) -> Timeline {
        Timeline {
            origin: gst::ClockTime::ZERO,
            rate: u64::from(rate),
        }
    }

    /// The time of sample `samples` (rounded down to the nanosecond).
    pub fn time_of(&self, samples: u64) -> gst::ClockTime {
        self.origin
            + gst::ClockTime::SECOND
                .mul_div_floor(samples, self.rate)
                .unwrap_or(gst::ClockTime::ZERO)
    }

    /// The number of samples closest to `duration`.
    pub fn samples_in(&self, duration: gst::ClockTime) -> u64 {
        duration
            .nseconds()
            .mul_div_round(self.rate, gst::ClockTime::SECOND.nseconds())
            .unwrap_or(0)
    }

    /// The number of whole samples `duration` holds.
    pub fn whole_samples_in(&self, duration: gst::ClockTime) -> u64 {
        duration
            .nseconds()
            .mul_div_floor(self.rate, gst::ClockTime::SECOND.nseconds())
            .unwrap_or(0)
    }

    /// The sample a time falls on (0 before `origin`).
    pub fn sample_at(&self, time: gst::ClockTime) -> u64 {
        self.samples_in(time.saturating_sub(self.origin))
    }

    /// An audio buffer of `samples` in `format`, starting at sample `offset`: PTS, duration and
    /// (sample) offsets set, with `flags`.
    pub fn buffer(
        &self,
        samples: &[f32],
        offset: u64,
        format: gst_audio::AudioFormat,
        flags: gst::BufferFlags,
    ) -> gst::Buffer {
        let end = offset + samples.len() as u64;
        let mut buffer = gst::Buffer::from_mut_slice(encode(samples, format));
        {
            let buffer = buffer.get_mut().expect("new buffer is writable");
            let pts = self.time_of(offset);
            buffer.set_pts(pts);
            buffer.set_duration(self.time_of(end) - pts);
            buffer.set_offset(offset);
            buffer.set_offset_end(end);
            buffer.set_flags(flags);
        }
        buffer
    }

    /// The buffer of a scheduled [`Block`]: silence flagged GAP, DISCONT where the block is one.
    pub fn block_buffer(&self, block: &Block, format: gst_audio::AudioFormat) -> gst::Buffer {
        let mut flags = gst::BufferFlags::empty();
        flags.set(gst::BufferFlags::GAP, block.gap);
        flags.set(gst::BufferFlags::DISCONT, block.discont);
        self.buffer(&block.samples, block.offset, format, flags)
    }
}

/// The `neuraltts-sentence` element message from `element` for a chunk spoken at `pts` for
/// `duration` (logged in `cat` too).
pub fn sentence_message(
    cat: gst::DebugCategory,
    element: &gst::Element,
    text: &str,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
    rtf: f64,
) -> gst::Message {
    gst::debug!(
        cat,
        obj = element,
        "speaking {text:?} at {pts} for {duration}, rtf {rtf:.3}"
    );
    let structure = gst::Structure::builder("neuraltts-sentence")
        .field("text", text)
        .field("pts", pts.nseconds())
        .field("duration", duration.nseconds())
        .field("rtf", rtf)
        .build();
    gst::message::Element::builder(structure)
        .src(element)
        .build()
}
