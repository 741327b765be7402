// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts` with a live upstream: a cue whose synthesis would miss the latency budget is
//! spoken clause by clause. Its first clause goes out at the cue's time as soon as it is
//! synthesised, and each clause after it right after the one before, while the next is
//! synthesised. Under `overflow=fit` each clause's speed-up is picked before it is synthesised,
//! from the samples per phoneme id of what was spoken before (the core's `StreamedFit`): no
//! clause is synthesised twice. `clip` and `overlap` cues, and SSML, are always synthesised whole.
//!
//! Whether a cue would miss the budget is estimated from its phoneme ids and the model time per
//! id of the cues before it (before any, an assumed 2.5 ms), twice that when `fit` will
//! probably re-synthesise it. Each clause is a sentence of its own for the
//! `neuraltts-sentence` messages and the marks' `sentence` index.

use std::sync::atomic::Ordering;

use gst::prelude::*;
use gst::subclass::prelude::*;
use neural_media::tts::schedule::{self, Cue, Overflow};
use neural_media::tts::{Chunking, Fit, Speech, StreamedFit};

use super::{CAT, NeuralTts, Settings};
use crate::phonemizer::Espeak;

/// Model seconds per phoneme id assumed before a cue was measured (the default voice on two
/// shared CPU cores takes 1 to 3 ms; a dozen ids make a word), so that the first live cues are
/// judged too.
const PRIOR_INFER_PER_ID: f64 = 0.0025;

/// What [`NeuralTts::speak_live`] did with a cue.
pub(super) enum Live {
    /// Spoken clause by clause, and pushed.
    Spoken(gst::FlowSuccess),
    /// To be synthesised whole; `ids` (its phoneme ids, when live) to learn what it costs.
    Whole { ids: Option<usize> },
}

impl NeuralTts {
    /// Speaks a live cue clause by clause when its synthesis would miss the latency budget.
    pub(super) fn speak_live(
        &self,
        settings: &Settings,
        text: &str,
        cue: &Cue,
        overflow: Overflow,
        fit: Option<Fit>,
        pts: Option<gst::ClockTime>,
    ) -> Result<Live, gst::FlowError> {
        let live = self.upstream_latency.lock().unwrap().is_some_and(|l| l.0);
        if !live || !matches!(overflow, Overflow::Fit | Overflow::Shift) {
            return Ok(Live::Whole { ids: None });
        }
        let (plan, mut config) = {
            let voice = self.voice.lock().unwrap();
            let voice = voice.as_ref().ok_or(gst::FlowError::Flushing)?;
            let mut config = settings.voice.synthesis_config(voice);
            config.word_marks |= self.words.is_linked();
            config.chunking = Chunking::Clause;
            let plan = voice.plan(text, &config, &Espeak).map_err(|err| {
                neural_media_gst::stream_failed(
                    &*self.obj(),
                    format_args!("front end failed on {text:?}: {err}"),
                )
            })?;
            (plan, config)
        };
        let ids: usize = plan.iter().map(|c| c.ids.ids.ids.len()).sum();
        if plan.len() < 2 {
            return Ok(Live::Whole { ids: Some(ids) });
        }
        let (rates, budget) = {
            let guard = self.state.lock().unwrap();
            let state = guard.as_ref().ok_or(gst::FlowError::Flushing)?;
            let end = state.schedule.scheduled_end();
            let start = cue.start.map_or(end, |at| at.max(end));
            // Until the cue's running time plus the pipeline latency (upstream's and ours).
            let (Some(now), Some(at), Some((_, upstream, _))) = (
                self.obj().current_running_time(),
                state.segment.to_running_time(state.timeline.time_of(start)),
                *self.upstream_latency.lock().unwrap(),
            ) else {
                return Ok(Live::Whole { ids: Some(ids) });
            };
            let latency = upstream + gst::ClockTime::from_mseconds(settings.latency_ms.into());
            let seconds = |t: gst::ClockTime| t.nseconds() as f64 / 1e9;
            let budget = seconds(at + latency) - seconds(now);
            (state.live, budget)
        };
        let per_id = rates.infer_per_id.unwrap_or(PRIOR_INFER_PER_ID);
        let longer = fit
            .zip(rates.samples_per_id)
            .is_some_and(|(fit, samples)| samples * ids as f64 > fit.samples as f64);
        let passes = if longer { 2.0 } else { 1.0 };
        let estimate = per_id * ids as f64 * passes;
        if estimate <= budget {
            return Ok(Live::Whole { ids: Some(ids) });
        }
        gst::debug!(
            CAT,
            imp = self,
            "{estimate:.3} s of synthesis for {budget:.3} s: speaking {text:?} clause by clause"
        );

        let rate = f64::from(self.rate.load(Ordering::SeqCst));
        let silence = (f64::from(config.sentence_silence) * rate).round() as usize;
        let base_scale = f64::from(config.length_scale);
        let mut streamed = fit.map(|fit| StreamedFit::new(fit, ids, rates.samples_per_id));
        let cue_end = cue.end();
        let parts = plan.len();
        let mut infer = 0.0;
        let mut flow = gst::FlowSuccess::Ok;
        for (i, planned) in plan.into_iter().enumerate() {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            let speedup = streamed.as_ref().map_or(1.0, StreamedFit::speedup);
            config.length_scale = (base_scale / speedup) as f32;
            let part_ids = planned.ids.ids.ids.len();
            let chunk = {
                let mut voice = self.voice.lock().unwrap();
                let voice = voice.as_mut().ok_or(gst::FlowError::Flushing)?;
                voice.synthesize_planned(planned, &config)
            };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(neural_media::Error::Cancelled) => return Err(gst::FlowError::Flushing),
                Err(err) => {
                    return Err(neural_media_gst::stream_failed(
                        &*self.obj(),
                        format_args!("synthesis of {text:?} failed: {err}"),
                    ));
                }
            };
            infer += chunk.stats.infer_seconds;
            let mut speech = Speech::default();
            speech.push(chunk, silence);
            gst::log!(
                CAT,
                imp = self,
                "clause {}/{parts} at {speedup:.3}x: {} samples",
                i + 1,
                speech.samples.len()
            );
            if let Some(streamed) = streamed.as_mut() {
                streamed.record(part_ids, speedup, speech.voiced_len(), speech.samples.len());
            }
            let last = i + 1 == parts;
            // The first clause goes at the cue's time, the others right after it.
            let (part_cue, part_overflow) = if i == 0 {
                (*cue, overflow)
            } else {
                (Cue::default(), schedule::Overflow::Shift)
            };
            let end = if last { cue_end } else { None };
            flow = self.emit(
                settings,
                speech,
                Vec::new(),
                &part_cue,
                part_overflow,
                pts,
                end,
            )?;
        }
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            let samples_per_id = streamed.as_ref().and_then(StreamedFit::samples_per_id);
            state.live.record_parts(infer, ids, samples_per_id);
        }
        Ok(Live::Spoken(flow))
    }
}
