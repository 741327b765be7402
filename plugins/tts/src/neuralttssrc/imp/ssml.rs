// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuralttssrc` with `text-format=ssml`: `text`, the file at `location` and each `push-text`
//! are SSML documents. Their segments are phonemized a sentence at a time, just before they are
//! needed, like sentences of plain text; each run is one buffer, a `break` between runs one
//! buffer of silence, and a `mark` between runs a `neuraltts-mark` message at the time the next
//! buffer starts. A `break` or `mark` inside a run (a voice with durations) is in the run's
//! buffer: silence at its word boundary, the message at that time.

use std::collections::VecDeque;

use gst::prelude::*;
use gst::subclass::prelude::*;
use neural_media::tts::ssml::{self, Segment, Step, Warning};

use super::{CAT, NeuralTtsSrc, Settings};
use crate::marks::SpeechMarks;
use crate::phonemizer::Espeak;
use crate::ssml::{mark_message, post_warnings};

impl NeuralTtsSrc {
    /// Parses one SSML document into `segments` (its warnings into `warnings`).
    pub(super) fn queue_ssml(
        segments: &mut VecDeque<Segment>,
        warnings: &mut Vec<Warning>,
        input: &str,
    ) {
        let doc = ssml::parse(input);
        segments.extend(doc.segments);
        warnings.extend(doc.warnings);
    }

    /// Phonemizes the segments of one sentence into the state's steps.
    pub(super) fn plan_segments(
        &self,
        settings: &Settings,
        segments: &[Segment],
    ) -> Result<(), gst::FlowError> {
        let mut steps = Vec::new();
        let mut warnings = Vec::new();
        let planned = self.with_voice(|voice| {
            let chunking = settings.voice.synthesis_config(voice).chunking;
            ssml::plan::plan_segments(
                segments,
                voice.config(),
                &Espeak,
                chunking,
                voice.has_durations(),
                &mut steps,
                &mut warnings,
            )
        })?;
        if let Err(err) = planned {
            return Err(neural_media_gst::stream_failed(
                &*self.obj(),
                format_args!("phonemization failed: {err}"),
            ));
        }
        let fresh = self.with_state(|state| {
            state.steps.extend(steps);
            state.warned.fresh(warnings)
        })?;
        post_warnings(self.obj().upcast_ref(), &fresh);
        Ok(())
    }

    /// Takes one step: the buffer of a run or a break, or `None` after posting a mark.
    pub(super) fn ssml_step(
        &self,
        settings: &Settings,
        step: Step,
    ) -> Result<Option<gst::Buffer>, gst::FlowError> {
        match step {
            Step::Run {
                ids,
                prosody,
                inside,
            } => {
                let after_cut =
                    self.with_state(|state| std::mem::replace(&mut state.cut, !ids.sentence_end))?;
                let chunk = self.with_voice(|voice| {
                    let config = settings.voice.synthesis_config(voice);
                    voice.synthesize_ssml_run(ids, prosody, &inside, &config, after_cut)
                })?;
                let (chunk, marks) = match chunk {
                    Ok((chunk, marks)) => (Ok(chunk), marks),
                    Err(err) => (Err(err), Vec::new()),
                };
                let buffer = self.chunk_buffer(settings, chunk, &[])?;
                if settings.voice.speech_marks.contains(SpeechMarks::SSML) {
                    let timeline = self.with_state(|state| state.timeline)?;
                    for mark in &marks {
                        let pts = timeline.time_of(buffer.offset() + mark.offset as u64);
                        self.post_mark(&mark.name, pts);
                    }
                }
                Ok(Some(buffer))
            }
            Step::Silence(seconds) => {
                let samples = self.with_voice(|voice| voice.silence_samples(seconds))?;
                self.pace(settings.is_live)?;
                let buffer = self.with_state(|state| {
                    Self::buffer(state, &vec![0.0; samples], gst::BufferFlags::empty())
                })?;
                Ok(Some(buffer))
            }
            Step::Mark(name) => {
                let pts = self.with_state(|state| state.timeline.time_of(state.position))?;
                if settings.voice.speech_marks.contains(SpeechMarks::SSML) {
                    self.post_mark(&name, pts);
                }
                Ok(None)
            }
        }
    }

    /// Posts the `neuraltts-mark` message of an SSML mark reached at `pts`.
    pub(super) fn post_mark(&self, name: &str, pts: gst::ClockTime) {
        let obj = self.obj();
        let _ = obj.post_message(mark_message(*CAT, obj.upcast_ref(), name, pts));
    }
}
