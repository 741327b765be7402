// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts` speaks timed text (subtitles, captions) with a neural (Piper VITS) voice, each
//! cue starting at its buffer's timestamp.
//!
//! Input: `text/x-raw` in `utf8` or `pango-markup` (tags removed, entities unescaped), one cue
//! per buffer. Output: mono `S16LE` or `F32LE` at the voice's rate, in the input's TIME segment,
//! with contiguous timestamps from the segment start: speech sits at the cues' PTS and the time
//! between cues is filled with silence buffers flagged `GAP` (what upstream GAP events cover
//! becomes such buffers too), so `wavenc` writes a file with the speech in place and
//! `audiomixer`/`mp4mux` keep running. A cue is synthesised when it arrives (the voice is loaded
//! on READY→PAUSED); a buffer without PTS is spoken right after what came before. EOS is
//! forwarded once everything queued has been pushed, and the audio then reaches the end of the
//! last cue (so it lasts as long as the text stream); flushing stops synthesis between sentences.
//!
//! `overflow` decides what happens when speech is longer than its cue (the buffer duration;
//! without one, speech just runs on and delays what follows): `clip` cuts it at the cue end,
//! `shift` lets it run on and starts the next cue after it, `overlap` lets it run on and mixes the
//! next cue in at its own time (the part past the cue end is held back until the next cue, a GAP
//! or EOS, then summed with it), and `fit` (default) re-synthesises it faster — length scale times
//! cue/speech duration, with 5 % margin, at most `max-speedup` times faster — then shifts what
//! still does not fit. The trailing sentence silence never delays the next cue.
//! `latency` (ms) is added to upstream's in the LATENCY query; with a live upstream, a cue whose
//! synthesis took longer is still spoken, as soon as possible, and a warning suggests a larger
//! `latency`; silence that could no longer be played on time is skipped (next buffer DISCONT). The voice properties are those of `neuralttssrc`, and so is the `neuraltts-sentence`
//! element message (`text`, `pts`, `duration` in ns, `rtf`) posted for each sentence spoken.
//!
//! ```sh
//! gst-launch-1.0 filesrc location=pipelines/data/captions.srt ! subparse ! neuraltts ! audioconvert ! wavenc ! filesink location=captions.wav
//! ```
//! (`pipelines/voice-subtitles.sh` runs the same.)

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use neural_media::tts::{SynthesisConfig, Voice};

use super::Overflow;
use crate::phonemizer::Espeak;
use crate::settings::{VoiceSettings, audio_caps, encode};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuraltts",
        gst::DebugColorFlags::empty(),
        Some("Neural TTS for timed text"),
    )
});

const DEFAULT_LATENCY_MS: u32 = 400;
const DEFAULT_OVERFLOW: Overflow = Overflow::Fit;
const DEFAULT_MAX_SPEEDUP: f64 = 1.3;
/// `fit` aims at this fraction of the cue (phoneme durations are rounded, speed is not linear).
const FIT_MARGIN: f64 = 0.95;
/// Re-syntheses `fit` tries at most per cue.
const FIT_ATTEMPTS: usize = 3;
/// Longest silence buffer sent between cues.
const SILENCE_BLOCK: gst::ClockTime = gst::ClockTime::from_mseconds(100);

#[derive(Debug, Clone)]
struct Settings {
    voice: VoiceSettings,
    latency_ms: u32,
    overflow: Overflow,
    max_speedup: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            voice: VoiceSettings::default(),
            latency_ms: DEFAULT_LATENCY_MS,
            overflow: DEFAULT_OVERFLOW,
            max_speedup: DEFAULT_MAX_SPEEDUP,
        }
    }
}

struct State {
    voice: Voice,
    /// Negotiated sample format; `None` until caps went out.
    format: Option<gst_audio::AudioFormat>,
    /// Whether the input is pango markup.
    markup: bool,
    segment: gst::FormattedSegment<gst::ClockTime>,
    /// PTS of sample 0: the segment start.
    origin: gst::ClockTime,
    /// Samples pushed since `origin`.
    pushed: u64,
    /// Speech from `pushed` on that is not pushed yet (held back by `overlap` only).
    tail: Vec<f32>,
    /// End (in samples) of the last cue with a duration: at EOS the audio covers the text
    /// stream's time up to there, speech or not.
    cues_end: u64,
    discont: bool,
}

/// One cue's synthesised speech.
#[derive(Default)]
struct Speech {
    samples: Vec<f32>,
    chunks: Vec<SpokenChunk>,
    /// Sentence silence at the end of `samples`.
    trailing_silence: usize,
    infer_seconds: f64,
}

struct SpokenChunk {
    text: String,
    start: usize,
    len: usize,
    rtf: f64,
}

impl Speech {
    /// Samples up to the end of the last word.
    fn voiced_len(&self) -> usize {
        self.samples.len() - self.trailing_silence.min(self.samples.len())
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.samples.len() {
            return;
        }
        let cut = self.samples.len() - len;
        self.samples.truncate(len);
        self.trailing_silence = self.trailing_silence.saturating_sub(cut);
        self.chunks.retain(|c| c.start < len);
        for chunk in &mut self.chunks {
            chunk.len = chunk.len.min(len - chunk.start);
        }
    }
}

pub struct NeuralTts {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The loaded voice's sample rate (0 while stopped), for caps queries during synthesis.
    rate: AtomicU32,
    /// Upstream's (live, min, max) latency, queried once per run.
    upstream_latency: Mutex<Option<(bool, gst::ClockTime, Option<gst::ClockTime>)>>,
    flushing: AtomicBool,
}

/// Removes pango markup: tags dropped, the XML entities (named and numeric) unescaped.
fn strip_markup(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len());
    let mut rest = markup;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('<') {
            rest = match rest.find('>') {
                Some(end) => &rest[end + 1..],
                None => &rest[1..],
            };
        } else {
            let entity = rest
                .find(';')
                .filter(|&end| end <= 12)
                .and_then(|end| unescape(&rest[1..end]).map(|c| (end, c)));
            match entity {
                Some((end, c)) => {
                    out.push(c);
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

fn unescape(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let code = name.strip_prefix('#')?;
            let value = match code.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => code.parse().ok()?,
            };
            char::from_u32(value)
        }
    }
}

impl State {
    fn rate(&self) -> u64 {
        u64::from(self.voice.sample_rate())
    }

    fn time_of(&self, samples: u64) -> gst::ClockTime {
        self.origin
            + gst::ClockTime::SECOND
                .mul_div_floor(samples, self.rate())
                .unwrap_or(gst::ClockTime::ZERO)
    }

    fn samples_in(&self, duration: gst::ClockTime) -> u64 {
        duration
            .nseconds()
            .mul_div_round(self.rate(), gst::ClockTime::SECOND.nseconds())
            .unwrap_or(0)
    }

    /// The sample a PTS falls on (0 before the segment start).
    fn sample_at(&self, pts: gst::ClockTime) -> u64 {
        self.samples_in(pts.saturating_sub(self.origin))
    }

    /// Where speech scheduled so far ends.
    fn scheduled_end(&self) -> u64 {
        self.pushed + self.tail.len() as u64
    }

    /// Where the output must reach before EOS or a new segment: the end of the speech, or of
    /// the last cue if that is later.
    fn stream_end(&self) -> u64 {
        self.scheduled_end().max(self.cues_end)
    }

    fn buffer(&mut self, samples: &[f32], gap: bool) -> gst::Buffer {
        let format = self.format.unwrap_or(gst_audio::AudioFormat::S16le);
        let start = self.pushed;
        let end = start + samples.len() as u64;
        let mut buffer = gst::Buffer::from_mut_slice(encode(samples, format));
        {
            let buffer = buffer.get_mut().expect("new buffer is writable");
            let pts = self.time_of(start);
            buffer.set_pts(pts);
            buffer.set_duration(self.time_of(end) - pts);
            buffer.set_offset(start);
            buffer.set_offset_end(end);
            let mut flags = gst::BufferFlags::empty();
            if gap {
                flags |= gst::BufferFlags::GAP;
            }
            if std::mem::take(&mut self.discont) {
                flags |= gst::BufferFlags::DISCONT;
            }
            buffer.set_flags(flags);
        }
        self.pushed = end;
        buffer
    }

    /// Emits the output up to sample `until`: the held speech first, then silence.
    fn advance_to(&mut self, until: u64, out: &mut Vec<gst::Buffer>) {
        if until <= self.pushed {
            return;
        }
        let from_tail = (self.tail.len() as u64).min(until - self.pushed) as usize;
        if from_tail > 0 {
            let speech: Vec<f32> = self.tail.drain(..from_tail).collect();
            out.push(self.buffer(&speech, false));
        }
        let block = self.samples_in(SILENCE_BLOCK).max(1);
        while self.pushed < until {
            let n = (until - self.pushed).min(block) as usize;
            out.push(self.buffer(&vec![0.0; n], true));
        }
    }
}

impl NeuralTts {
    fn settings(&self) -> Settings {
        self.settings.lock().unwrap().clone()
    }

    /// Picks the output caps (the voice's rate, downstream's preferred format) and sends them.
    fn negotiate(&self) -> bool {
        let rate = self.rate.load(Ordering::SeqCst);
        if rate == 0 {
            return false;
        }
        let ours = audio_caps(Some(rate));
        // Our order first: S16LE unless downstream only takes F32LE.
        let peer = self.srcpad.peer_query_caps(Some(&ours));
        let caps = match ours.intersect_with_mode(&peer, gst::CapsIntersectMode::First) {
            caps if caps.is_empty() => {
                gst::warning!(CAT, imp = self, "downstream accepts none of {ours}");
                return false;
            }
            mut caps => {
                caps.fixate();
                caps
            }
        };
        let format = gst_audio::AudioInfo::from_caps(&caps)
            .ok()
            .map(|info| info.format());
        gst::debug!(CAT, imp = self, "output caps {caps}");
        if !self.srcpad.push_event(gst::event::Caps::new(&caps)) {
            return false;
        }
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.format = format;
        }
        true
    }

    /// Upstream's latency (cached), to know whether the input is live.
    fn upstream_latency(&self) -> Option<(bool, gst::ClockTime, Option<gst::ClockTime>)> {
        if let Some(latency) = *self.upstream_latency.lock().unwrap() {
            return Some(latency);
        }
        let mut query = gst::query::Latency::new();
        if !self.sinkpad.peer_query(&mut query) {
            return None;
        }
        let latency = query.result();
        gst::debug!(CAT, imp = self, "upstream latency {latency:?}");
        *self.upstream_latency.lock().unwrap() = Some(latency);
        Some(latency)
    }

    fn push_all(&self, buffers: Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> {
        for buffer in buffers {
            self.srcpad.push(buffer)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn post_sentences(&self, messages: Vec<gst::Structure>) {
        for message in messages {
            let _ = self.obj().post_message(
                gst::message::Element::builder(message)
                    .src(&*self.obj())
                    .build(),
            );
        }
    }

    /// Synthesises one cue, chunk by chunk; stops early (`Flushing`) on a flush.
    fn synthesize(
        &self,
        voice: &mut Voice,
        text: &str,
        config: &SynthesisConfig,
    ) -> Result<Speech, gst::FlowError> {
        let silence =
            (f64::from(config.sentence_silence) * f64::from(voice.sample_rate())).round() as usize;
        let mut speech = Speech::default();
        let flushing = &self.flushing;
        let result = voice.synthesize(text, config, &Espeak, |chunk| {
            let len = chunk.samples.len();
            speech.chunks.push(SpokenChunk {
                text: chunk.text,
                start: speech.samples.len(),
                len,
                rtf: chunk.stats.rtf,
            });
            speech.trailing_silence = if chunk.sentence_end {
                silence.min(len)
            } else {
                0
            };
            speech.samples.extend_from_slice(&chunk.samples);
            speech.infer_seconds += chunk.stats.infer_seconds;
            if flushing.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match result {
            Ok(summary) if summary.stopped => Err(gst::FlowError::Flushing),
            Ok(_) => Ok(speech),
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("synthesis of {text:?} failed: {err}")
                );
                Err(gst::FlowError::Error)
            }
        }
    }

    /// The first sample a live input's cue can still be played at: running time now minus
    /// the pipeline latency (upstream's + ours). `None` when not live or without a clock.
    fn live_floor(&self, state: &State, settings: &Settings) -> Option<u64> {
        let (live, upstream_min, _) = (*self.upstream_latency.lock().unwrap())?;
        if !live {
            return None;
        }
        let now = self.obj().current_running_time()?;
        let latency = upstream_min + gst::ClockTime::from_mseconds(settings.latency_ms.into());
        let floor = state
            .segment
            .position_from_running_time(now.saturating_sub(latency))?;
        Some(state.sample_at(floor))
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.flushing.load(Ordering::SeqCst) {
            return Err(gst::FlowError::Flushing);
        }
        let pts = buffer.pts();
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("cannot read text buffer"));
            gst::FlowError::Error
        })?;
        let raw = match std::str::from_utf8(&map) {
            Ok(raw) => raw,
            Err(err) => {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Decode,
                    (
                        "text at {} is not valid UTF-8 ({err}): skipped",
                        pts.display()
                    )
                );
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        let needs_caps = self.srcpad.check_reconfigure() || self.srcpad.current_caps().is_none();
        if needs_caps && !self.negotiate() {
            if self.srcpad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                return Err(gst::FlowError::Flushing);
            }
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("downstream accepts no mono S16LE/F32LE audio at the voice's rate")
            );
            return Err(gst::FlowError::NotNegotiated);
        }
        self.upstream_latency();
        let settings = self.settings();

        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let text = if state.markup {
            strip_markup(raw)
        } else {
            raw.to_owned()
        };
        drop(map);
        if text.trim().is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let cue_start = pts.map(|pts| state.sample_at(pts));
        let cue_len = buffer
            .duration()
            .filter(|d| !d.is_zero() && pts.is_some())
            .map(|d| state.samples_in(d) as usize);
        if let (Some(start), Some(len)) = (cue_start, cue_len) {
            state.cues_end = state.cues_end.max(start + len as u64);
        }
        let overflow = if cue_len.is_some() {
            settings.overflow
        } else {
            Overflow::Shift
        };

        let mut config = settings.voice.synthesis_config(&state.voice);
        let mut speech = self.synthesize(&mut state.voice, &text, &config)?;
        if speech.samples.is_empty() {
            gst::debug!(CAT, imp = self, "nothing to say in {text:?}");
            return Ok(gst::FlowSuccess::Ok);
        }
        if let (Overflow::Fit, Some(len)) = (overflow, cue_len) {
            let base_scale = f64::from(config.length_scale);
            let mut speedup = 1.0f64;
            for _ in 0..FIT_ATTEMPTS {
                if speech.voiced_len() <= len || speedup >= settings.max_speedup {
                    break;
                }
                // Durations are rounded to whole frames, so speed is not linear in the scale:
                // aim again from what the last attempt gave.
                speedup = (speedup * speech.voiced_len() as f64 / (len as f64 * FIT_MARGIN))
                    .min(settings.max_speedup);
                gst::debug!(
                    CAT,
                    imp = self,
                    "speech {:.3} s for a {:.3} s cue: speeding up {speedup:.3}x",
                    speech.voiced_len() as f64 / state.rate() as f64,
                    len as f64 / state.rate() as f64
                );
                config.length_scale = (base_scale / speedup) as f32;
                let infer = speech.infer_seconds;
                speech = self.synthesize(&mut state.voice, &text, &config)?;
                speech.infer_seconds += infer;
            }
            if speech.voiced_len() > len {
                gst::debug!(
                    CAT,
                    imp = self,
                    "still {:.3} s over at {speedup:.2}x: shifting",
                    (speech.voiced_len() - len) as f64 / state.rate() as f64
                );
            }
        }
        if let Some(len) = cue_len {
            // Sentence silence past the cue end is dropped; clip drops speech too.
            let keep = if overflow == Overflow::Clip {
                len
            } else {
                len.max(speech.voiced_len())
            };
            speech.truncate(keep);
        }

        let end = state.scheduled_end();
        let mut start = match (cue_start, overflow) {
            (None, _) => end,
            (Some(cue), Overflow::Overlap) => cue.max(state.pushed),
            (Some(cue), _) => cue.max(end),
        };
        if let Some(floor) = self.live_floor(state, &settings) {
            if start < floor {
                gst::element_imp_warning!(
                    self,
                    gst::CoreError::Clock,
                    (
                        "speech for the cue at {} is {} late (synthesis took {:.0} ms): \
                         increase the latency property (now {} ms)",
                        pts.display(),
                        state.time_of(floor) - state.time_of(start),
                        speech.infer_seconds * 1000.0,
                        settings.latency_ms
                    )
                );
                start = floor;
            }
            if state.tail.is_empty() && state.pushed < floor.min(start) {
                // The silence before the floor could not be played anyway.
                state.pushed = floor.min(start);
                state.discont = true;
            }
        }
        if let Some(cue) = cue_start
            && start > cue
        {
            gst::debug!(
                CAT,
                imp = self,
                "cue at {} shifted by {}",
                state.time_of(cue),
                state.time_of(start) - state.time_of(cue)
            );
        }

        let mut buffers = Vec::new();
        let mut messages = Vec::new();
        for chunk in &speech.chunks {
            let at = start + chunk.start as u64;
            let chunk_pts = state.time_of(at);
            gst::debug!(
                CAT,
                imp = self,
                "speaking {:?} at {chunk_pts}, rtf {:.3}",
                chunk.text,
                chunk.rtf
            );
            messages.push(
                gst::Structure::builder("neuraltts-sentence")
                    .field("text", &chunk.text)
                    .field("pts", chunk_pts.nseconds())
                    .field(
                        "duration",
                        (state.time_of(at + chunk.len as u64) - chunk_pts).nseconds(),
                    )
                    .field("rtf", chunk.rtf)
                    .build(),
            );
        }
        if start >= end {
            state.advance_to(start, &mut buffers);
            state.tail = speech.samples;
        } else {
            // overlap: mix into the speech held back.
            let offset = (start - state.pushed) as usize;
            let needed = offset + speech.samples.len();
            if state.tail.len() < needed {
                state.tail.resize(needed, 0.0);
            }
            for (held, new) in state.tail[offset..].iter_mut().zip(&speech.samples) {
                *held += new;
            }
        }
        let commit = match (overflow, cue_start, cue_len) {
            (Overflow::Overlap, Some(cue), Some(len)) => {
                (cue + len as u64).min(state.scheduled_end())
            }
            _ => state.scheduled_end(),
        };
        state.advance_to(commit, &mut buffers);
        drop(guard);

        self.post_sentences(messages);
        self.push_all(buffers)
    }

    /// Pushes what is held back and the silence up to `until` (if `None`: the end of the speech
    /// or of the last cue, whichever is later).
    fn drain(&self, until: Option<gst::ClockTime>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut buffers = Vec::new();
        if let Some(state) = self.state.lock().unwrap().as_mut()
            && state.format.is_some()
        {
            let target = until.map_or(state.stream_end(), |t| state.sample_at(t));
            state.advance_to(target, &mut buffers);
        }
        self.push_all(buffers)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::FlushStart(_) => {
                self.flushing.store(true, Ordering::SeqCst);
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.tail.clear();
                    state.pushed = 0;
                    state.cues_end = 0;
                    state.segment = gst::FormattedSegment::new();
                    state.discont = true;
                }
                self.flushing.store(false, Ordering::SeqCst);
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Caps(c) => {
                let markup = c
                    .caps()
                    .structure(0)
                    .and_then(|s| s.get::<&str>("format").ok())
                    == Some("pango-markup");
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.markup = markup;
                }
                // Our caps replace the text caps.
                self.negotiate()
            }
            EventView::Segment(s) => {
                let segment = match s.segment().clone().downcast::<gst::ClockTime>() {
                    Ok(segment) => segment,
                    Err(segment) => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            (
                                "timed text needs a TIME segment, got {:?}",
                                segment.format()
                            )
                        );
                        return false;
                    }
                };
                if self.drain(None).is_err() {
                    return false;
                }
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    let same = state.segment.start() == segment.start()
                        && state.segment.base() == segment.base()
                        && state.segment.rate() == segment.rate();
                    if !same {
                        state.origin = segment.start().unwrap_or(gst::ClockTime::ZERO);
                        state.pushed = 0;
                        state.cues_end = 0;
                        state.discont = true;
                    }
                    state.segment = segment;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Gap(g) => {
                let (pts, duration) = g.get();
                let until = pts + duration.unwrap_or(gst::ClockTime::ZERO);
                self.drain(Some(until)).is_ok()
            }
            EventView::Eos(_) => {
                let _ = self.drain(None);
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Latency(q) => {
                let mut peer = gst::query::Latency::new();
                if !self.sinkpad.peer_query(&mut peer) {
                    return false;
                }
                let (live, min, max) = peer.result();
                *self.upstream_latency.lock().unwrap() = Some((live, min, max));
                let ours =
                    gst::ClockTime::from_mseconds(self.settings.lock().unwrap().latency_ms.into());
                gst::debug!(
                    CAT,
                    imp = self,
                    "latency: upstream {min}..{}, ours {ours}",
                    max.display()
                );
                q.set(live, min + ours, max.map(|max| max + ours));
                true
            }
            gst::QueryViewMut::Caps(q) => {
                let rate = Some(self.rate.load(Ordering::SeqCst)).filter(|&r| r > 0);
                let caps = audio_caps(rate);
                let caps = match q.filter() {
                    Some(filter) => {
                        filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First)
                    }
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NeuralTts {
    const NAME: &'static str = "GstNmNeuralTts";
    type Type = super::NeuralTts;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|_pad, parent, buffer| {
                NeuralTts::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                NeuralTts::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .build();
        let templ = klass.pad_template("src").expect("src template");
        let srcpad = gst::Pad::builder_from_template(&templ)
            .query_function(|pad, parent, query| {
                NeuralTts::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .build();
        NeuralTts {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            rate: AtomicU32::new(0),
            upstream_latency: Mutex::new(None),
            flushing: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for NeuralTts {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = vec![
                glib::ParamSpecUInt::builder("latency")
                    .nick("Latency")
                    .blurb("Time allowed for synthesising a cue, in ms (added to upstream's latency)")
                    .maximum(10_000)
                    .default_value(DEFAULT_LATENCY_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("overflow", DEFAULT_OVERFLOW)
                    .nick("Overflow")
                    .blurb("What to do when speech is longer than its cue (buffer duration)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("max-speedup")
                    .nick("Maximum speed-up")
                    .blurb("With overflow=fit, the most speech is sped up to fit a cue (1.3: 30 % faster)")
                    .minimum(1.0)
                    .maximum(3.0)
                    .default_value(DEFAULT_MAX_SPEEDUP)
                    .mutable_playing()
                    .build(),
            ];
            props.extend(VoiceSettings::properties());
            props
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "latency" => {
                settings.latency_ms = value.get().expect("type checked upstream");
                drop(settings);
                let _ = self
                    .obj()
                    .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
            }
            "overflow" => settings.overflow = value.get().expect("type checked upstream"),
            "max-speedup" => settings.max_speedup = value.get().expect("type checked upstream"),
            name => {
                if !settings.voice.set(value, name) {
                    unimplemented!("property {name}")
                }
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "active-execution-provider" => {
                let state = self.state.lock().unwrap();
                state
                    .as_ref()
                    .map(|s| s.voice.provider().as_str())
                    .to_value()
            }
            name => {
                let settings = self.settings.lock().unwrap();
                match name {
                    "latency" => settings.latency_ms.to_value(),
                    "overflow" => settings.overflow.to_value(),
                    "max-speedup" => settings.max_speedup.to_value(),
                    _ => settings
                        .voice
                        .get(name)
                        .unwrap_or_else(|| unimplemented!("property {name}")),
                }
            }
        }
    }
}

impl GstObjectImpl for NeuralTts {}

impl ElementImpl for NeuralTts {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Neural TTS for timed text",
                "Converter/Text/Audio",
                "Speaks timed text (subtitles) with a neural (Piper VITS) voice, each cue at its timestamp",
                "neural-media developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let text = gst::Caps::builder("text/x-raw")
                .field("format", gst::List::new(["utf8", "pango-markup"]))
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &text,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &audio_caps(None),
                )
                .expect("valid template"),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                let settings = self.settings();
                let voice = settings.voice.load_voice().map_err(|err| {
                    self.post_error_message(err);
                    gst::StateChangeError
                })?;
                gst::info!(
                    CAT,
                    imp = self,
                    "voice {} loaded at {} Hz on {}",
                    voice.model_path().display(),
                    voice.sample_rate(),
                    voice.provider()
                );
                self.rate.store(voice.sample_rate(), Ordering::SeqCst);
                *self.upstream_latency.lock().unwrap() = None;
                self.flushing.store(false, Ordering::SeqCst);
                *self.state.lock().unwrap() = Some(State {
                    voice,
                    format: None,
                    markup: false,
                    segment: gst::FormattedSegment::new(),
                    origin: gst::ClockTime::ZERO,
                    pushed: 0,
                    tail: Vec::new(),
                    cues_end: 0,
                    discont: true,
                });
            }
            gst::StateChange::PausedToReady => {
                self.flushing.store(true, Ordering::SeqCst);
            }
            _ => {}
        }
        let ret = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => {
                *self.state.lock().unwrap() = None;
                self.rate.store(0, Ordering::SeqCst);
            }
            gst::StateChange::ReadyToPaused if ret.is_err() => {
                *self.state.lock().unwrap() = None;
                self.rate.store(0, Ordering::SeqCst);
            }
            _ => {}
        }
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::strip_markup;

    #[test]
    fn markup_is_stripped_and_unescaped() {
        assert_eq!(
            strip_markup("<i>Hello</i> &amp; goodbye"),
            "Hello & goodbye"
        );
        assert_eq!(
            strip_markup("<b><font color=\"red\">1 &lt; 2</font></b> &quot;x&quot; &apos;y&apos;"),
            "1 < 2 \"x\" 'y'"
        );
        assert_eq!(strip_markup("caf&#233; &#x41;"), "café A");
        assert_eq!(strip_markup("fish & chips"), "fish & chips");
        assert_eq!(strip_markup("a &bogus; b"), "a &bogus; b");
        assert_eq!(strip_markup("1 < 2"), "1  2");
    }
}
