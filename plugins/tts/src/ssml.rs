// SPDX-License-Identifier: GPL-3.0-or-later
//! SSML glue shared by `neuraltts` and `neuralttssrc`: the core's SSML warnings as GStreamer
//! warnings on the bus, and the `neuraltts-mark` element message.

use std::collections::HashSet;

use neural_media::tts::ssml::Warning;

/// The warnings already posted by an element in this run (from READY→PAUSED): an unsupported
/// element or attribute is reported once, malformed documents each time.
#[derive(Debug, Default)]
pub struct Warned(HashSet<String>);

impl Warned {
    /// Those of `warnings` to post: malformed documents always, the others when not posted
    /// yet in this run.
    pub fn fresh(&mut self, warnings: Vec<Warning>) -> Vec<Warning> {
        warnings
            .into_iter()
            .filter(|w| w.malformed || self.0.insert(w.message.clone()))
            .collect()
    }
}

/// Posts `warnings` from `element` as GStreamer warnings: `STREAM` `DECODE` for a malformed
/// document, `STREAM` `FORMAT` for the rest (call without holding a lock).
pub fn post_warnings(element: &gst::Element, warnings: &[Warning]) {
    for warning in warnings {
        if warning.malformed {
            gst::element_warning!(element, gst::StreamError::Decode, ("{}", warning));
        } else {
            gst::element_warning!(element, gst::StreamError::Format, ("SSML: {}", warning));
        }
    }
}

/// The `neuraltts-mark` element message from `element` for the SSML `<mark name=…>` reached at
/// `pts` (the time base of `neuraltts-sentence`), logged in `cat` too.
pub fn mark_message(
    cat: gst::DebugCategory,
    element: &gst::Element,
    name: &str,
    pts: gst::ClockTime,
) -> gst::Message {
    gst::debug!(cat, obj = element, "mark {name:?} at {pts}");
    let structure = gst::Structure::builder("neuraltts-mark")
        .field("name", name)
        .field("pts", pts.nseconds())
        .build();
    gst::message::Element::builder(structure)
        .src(element)
        .build()
}
