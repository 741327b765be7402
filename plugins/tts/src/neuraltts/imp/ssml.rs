// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts` on `application/ssml+xml`: each buffer is one SSML document (see the core's
//! `neural_media::tts::ssml` for the subset), spoken as a cue like text; its marks become
//! `neuraltts-mark` messages at their time in the output.

use std::sync::atomic::Ordering;

use gst::prelude::*;
use gst::subclass::prelude::*;
use neural_media::tts::ssml::{self, SpokenMark};
use neural_media::tts::{Fit, Speech};

use super::{CAT, NeuralTts, Settings};
use crate::phonemizer::Espeak;
use crate::ssml::{mark_message, post_warnings};

impl NeuralTts {
    /// Synthesises one SSML cue, faster if it has to `fit`; its warnings go to the bus (each
    /// once per run; malformed documents are spoken as their text, with a warning each time).
    pub(super) fn speak_ssml(
        &self,
        settings: &Settings,
        document: &str,
        fit: Option<Fit>,
    ) -> Result<(Speech, Vec<SpokenMark>), gst::FlowError> {
        let doc = ssml::parse(document);
        let mut warnings = doc.warnings.clone();
        let result = {
            let mut voice = self.voice.lock().unwrap();
            let voice = voice.as_mut().ok_or(gst::FlowError::Flushing)?;
            let config = settings.voice.synthesis_config(voice);
            let keep_going = || !self.flushing.load(Ordering::SeqCst);
            let durations = voice.has_durations();
            ssml::plan(&doc, voice.config(), &Espeak, config.chunking, durations).and_then(
                |(steps, plan_warnings)| {
                    warnings.extend(plan_warnings);
                    match fit {
                        Some(fit) => voice.synthesize_ssml_to_fit(&steps, &config, fit, keep_going),
                        None => voice.synthesize_ssml(&steps, &config, keep_going),
                    }
                },
            )
        };
        let fresh = match self.state.lock().unwrap().as_mut() {
            Some(state) => state.warned.fresh(warnings),
            None => warnings,
        };
        post_warnings(self.obj().upcast_ref(), &fresh);
        match result {
            Ok(Some(spoken)) => Ok((spoken.speech, spoken.marks)),
            Ok(None) | Err(neural_media::Error::Cancelled) => Err(gst::FlowError::Flushing),
            Err(err) => Err(neural_media_gst::stream_failed(
                &*self.obj(),
                format_args!("synthesis of SSML {document:?} failed: {err}"),
            )),
        }
    }

    /// Posts the `neuraltts-mark` message of an SSML mark reached at `pts`.
    pub(super) fn post_mark(&self, name: &str, pts: gst::ClockTime) {
        let obj = self.obj();
        let _ = obj.post_message(mark_message(*CAT, obj.upcast_ref(), name, pts));
    }
}
