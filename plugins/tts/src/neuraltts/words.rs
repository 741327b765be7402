// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts`'s `words` src pad: the spoken words as timed text (`text/x-raw, format=utf8`),
//! one buffer per word with its PTS and duration in the audio's segment, GAP events in between,
//! so that `textoverlay` can show each word while it is spoken. Nothing is pushed while the pad
//! is not linked.

use std::sync::Mutex;

use gst::prelude::*;

use crate::marks::TimedWord;

/// The pad and how far its stream has gone.
pub struct WordsPad {
    pub pad: gst::Pad,
    /// End of the last buffer or GAP pushed (`None`: nothing since the segment started).
    position: Mutex<Option<gst::ClockTime>>,
    /// Whether caps went out since the element started.
    caps_sent: Mutex<bool>,
}

impl WordsPad {
    pub fn new(pad: gst::Pad) -> WordsPad {
        WordsPad {
            pad,
            position: Mutex::new(None),
            caps_sent: Mutex::new(false),
        }
    }

    /// The caps of the pad.
    pub fn caps() -> gst::Caps {
        gst::Caps::builder("text/x-raw")
            .field("format", "utf8")
            .build()
    }

    /// Whether someone listens.
    pub fn is_linked(&self) -> bool {
        self.pad.is_linked()
    }

    /// A new segment (from its start) or a flush (`None`): the stream starts again.
    pub fn restart(&self, start: Option<gst::ClockTime>) {
        *self.position.lock().unwrap() = start;
    }

    /// The element stopped: caps go out again on the next start.
    pub fn reset(&self) {
        self.restart(None);
        *self.caps_sent.lock().unwrap() = false;
    }

    /// The stream-start of the input, for this pad's own stream.
    pub fn stream_start(&self, element: &gst::Element, event: &gst::event::StreamStart) {
        let id = self.pad.create_stream_id(element, Some("words"));
        let mut builder = gst::event::StreamStart::builder(id.as_str()).flags(event.stream_flags());
        if let Some(group) = event.group_id() {
            builder = builder.group_id(group);
        }
        self.pad.push_event(builder.build());
    }

    /// Sends the caps once (stored on the pad when it is not linked yet: sticky).
    pub fn ensure_caps(&self) {
        let mut sent = self.caps_sent.lock().unwrap();
        if !*sent {
            self.pad.push_event(gst::event::Caps::new(&Self::caps()));
            *sent = true;
        }
    }

    /// Pushes one buffer per word (GAP events before those that do not follow on). A word that
    /// starts before the previous one ended (`overflow=overlap`) starts at that end instead.
    /// Not being linked is not an error.
    pub fn push(&self, words: &[TimedWord]) -> Result<gst::FlowSuccess, gst::FlowError> {
        if !self.is_linked() || words.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        self.ensure_caps();
        for word in words {
            let end = word.pts + word.duration;
            let position = *self.position.lock().unwrap();
            let pts = position.map_or(word.pts, |p| word.pts.max(p));
            if end <= pts {
                continue;
            }
            self.gap_to(pts);
            let mut buffer = gst::Buffer::from_slice(word.word.text.clone().into_bytes());
            {
                let buffer = buffer.get_mut().expect("new buffer is writable");
                buffer.set_pts(pts);
                buffer.set_duration(end - pts);
            }
            *self.position.lock().unwrap() = Some(end);
            match self.pad.push(buffer) {
                Ok(_) | Err(gst::FlowError::NotLinked) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Sends a GAP event from where the stream is up to `until` (nothing if it is there already;
    /// from `until` itself when nothing went out yet since the segment started).
    pub fn gap_to(&self, until: gst::ClockTime) {
        if !self.is_linked() {
            return;
        }
        let mut position = self.position.lock().unwrap();
        let from = position.unwrap_or(until);
        if until > from {
            self.ensure_caps();
            self.pad.push_event(
                gst::event::Gap::builder(from)
                    .duration(until - from)
                    .build(),
            );
        }
        if position.is_none_or(|p| p < until) {
            *position = Some(until);
        }
    }
}
