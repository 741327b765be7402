// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts` speaks timed text (subtitles, captions) with a neural (Piper VITS) voice, each
//! cue starting at its buffer's timestamp.
//!
//! Input: `text/x-raw` in `utf8` or `pango-markup` (tags removed, entities unescaped), one cue
//! per buffer; or `application/ssml+xml`, one SSML document per buffer (the subset of the
//! core's `ssml` module: breaks, prosody rate and volume, `sub`, `say-as`, IPA `phoneme`,
//! `emphasis`, `mark`; SSML is never stripped of tags), whose unsupported or malformed parts
//! give bus warnings (malformed SSML is spoken as its text) and whose `<mark name=…>` become
//! `neuraltts-mark` messages (`name`, `pts` in ns, in the time base of `neuraltts-sentence`,
//! after `fit`, `shift`, `clip` and `overlap`; a mark cut off by `clip` gets none). Output: mono `S16LE` or `F32LE` at the voice's rate, in the input's TIME segment,
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
//! synthesis would take longer is spoken clause by clause, its first clause at the cue's time
//! (`live.rs`); one that is still late is spoken as soon as possible, and a warning suggests a
//! larger `latency`; silence that could no longer be played on time is skipped (next buffer
//! DISCONT).
//! The voice properties are those of `neuralttssrc`, and so is the `neuraltts-sentence` element
//! message (`text`, `pts`, `duration` in ns, `rtf`) posted for each sentence spoken.
//!
//! With a voice that gives phoneme durations, `neuraltts-word` and `neuraltts-viseme` messages
//! (the `speech-marks` flags) carry each word's and mouth shape's time in the same time base, after
//! the overflow policy (see `crate::marks`); the `words` src pad (`text/x-raw, format=utf8`)
//! carries one buffer per word with its PTS and duration, GAP events in between (`words.rs`).
//!
//! The scheduling itself (placement, the overflow policies, mixing, silence) is the core's
//! [`Schedule`], on sample counts; this element turns text buffers into its cues and its blocks
//! into buffers.
//!
//! ```sh
//! gst-launch-1.0 filesrc location=pipelines/data/captions.srt ! subparse ! neuraltts ! audioconvert ! wavenc ! filesink location=captions.wav
//! ```
//! (`pipelines/voice-subtitles.sh` runs the same.)

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use neural_media::engine::{Cancel, Overlap};
use neural_media::tts::schedule;
use neural_media::tts::ssml::SpokenMark;
use neural_media::tts::text::{strip_markup, strip_tags};
use neural_media::tts::{Fit, Speech, Voice};

use super::Overflow;
use super::state::State;
use super::words::WordsPad;
use crate::marks::{SpeechMarks, speech_messages, timed_words};
use crate::output::sentence_message;
use crate::phonemizer::Espeak;
use crate::settings::{VoiceSettings, active_provider, audio_caps, filtered_audio_caps};

mod live;
mod ssml;

use live::Live;

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

pub struct NeuralTts {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The voice: locked by the streaming thread for a model run, and by state changes.
    voice: Mutex<Option<Voice>>,
    /// Terminates this element's model runs (flush start, PAUSED→READY).
    cancel: Cancel,
    /// The loaded voice's sample rate (0 while stopped), for caps queries during synthesis.
    rate: AtomicU32,
    /// Upstream's (live, min, max) latency, queried once per run.
    upstream_latency: Mutex<Option<(bool, gst::ClockTime, Option<gst::ClockTime>)>>,
    flushing: AtomicBool,
    /// The `words` src pad: the spoken words as timed text.
    words: WordsPad,
    /// Whether the loaded voice gives phoneme durations (`speech-marks-available`).
    marks_available: AtomicBool,
    /// Sentences (chunks) spoken since the start: the next one's index.
    sentences: AtomicU64,
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

    /// Decodes a text buffer; `None` (after a warning) when it is not UTF-8.
    fn decode(&self, buffer: &gst::BufferRef) -> Result<Option<String>, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| {
            neural_media_gst::stream_failed(&*self.obj(), format_args!("cannot read text buffer"))
        })?;
        match std::str::from_utf8(&map) {
            Ok(raw) => Ok(Some(raw.to_owned())),
            Err(err) => {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Decode,
                    (
                        "text at {} is not valid UTF-8 ({err}): skipped",
                        buffer.pts().display()
                    )
                );
                Ok(None)
            }
        }
    }

    /// Sends caps when none went out yet or downstream asks for others.
    fn ensure_caps(&self) -> Result<(), gst::FlowError> {
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
        Ok(())
    }

    /// Synthesises one cue, faster if it has to `fit`; stops early (`Flushing`) on a flush,
    /// which also terminates the model run in progress.
    fn speak(
        &self,
        settings: &Settings,
        text: &str,
        fit: Option<Fit>,
    ) -> Result<Speech, gst::FlowError> {
        let mut voice = self.voice.lock().unwrap();
        let voice = voice.as_mut().ok_or(gst::FlowError::Flushing)?;
        let mut config = settings.voice.synthesis_config(voice);
        // The words pad needs the words too.
        config.word_marks |= self.words.is_linked();
        let config = &config;
        let keep_going = || !self.flushing.load(Ordering::SeqCst);
        let result = match fit {
            Some(fit) => voice.synthesize_to_fit(text, config, &Espeak, fit, keep_going),
            None => voice.synthesize_speech(text, config, &Espeak, keep_going),
        };
        match result {
            Ok(Some(speech)) => Ok(speech),
            Ok(None) | Err(neural_media::Error::Cancelled) => Err(gst::FlowError::Flushing),
            Err(err) => Err(neural_media_gst::stream_failed(
                &*self.obj(),
                format_args!("synthesis of {text:?} failed: {err}"),
            )),
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
        Some(state.timeline.sample_at(floor))
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.flushing.load(Ordering::SeqCst) {
            return Err(gst::FlowError::Flushing);
        }
        let Some(raw) = self.decode(&buffer)? else {
            return Ok(gst::FlowSuccess::Ok);
        };
        self.ensure_caps()?;
        self.upstream_latency();
        let settings = self.settings();

        let (text, cue, ssml) = {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            // Tags are never spoken: pango's, and WebVTT's (voice, class, timestamps, …); SSML
            // is never stripped.
            let text = if state.ssml {
                raw
            } else if state.markup {
                strip_markup(&raw)
            } else {
                strip_tags(&raw)
            };
            if text.trim().is_empty() {
                return Ok(gst::FlowSuccess::Ok);
            }
            let cue = state.cue(buffer.pts(), buffer.duration());
            state.schedule.mark_cue(&cue);
            (text, cue, state.ssml)
        };
        let overflow = schedule::Overflow::from(settings.overflow).for_cue(&cue);
        let fit = cue
            .len
            .filter(|_| overflow == schedule::Overflow::Fit)
            .map(|samples| Fit {
                samples,
                max_speedup: settings.max_speedup,
            });
        // A live cue that would miss the latency budget is spoken clause by clause.
        let live_ids = match ssml {
            true => None,
            false => match self.speak_live(&settings, &text, &cue, overflow, fit, buffer.pts())? {
                Live::Spoken(flow) => return Ok(flow),
                Live::Whole { ids } => ids,
            },
        };
        let (mut speech, mut ssml_marks) = if ssml {
            self.speak_ssml(&settings, &text, fit)?
        } else {
            (self.speak(&settings, &text, fit)?, Vec::new())
        };
        if speech.samples.is_empty() {
            gst::debug!(CAT, imp = self, "nothing to say in {text:?}");
            return Ok(gst::FlowSuccess::Ok);
        }
        if let Some(ids) = live_ids
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.live.record_whole(speech.infer_seconds, ids);
        }
        speech.limit_to_cue(cue.len, overflow);
        // A mark past a clipped cue's end has no message.
        ssml_marks.retain(|m| m.offset <= speech.samples.len());
        self.emit(
            &settings,
            speech,
            ssml_marks,
            &cue,
            overflow,
            buffer.pts(),
            None,
        )
    }

    /// Places `speech` for `cue` in the schedule, posts its messages and pushes what is ready,
    /// audio then words. `pts` is the cue's, for the late warning. `cue_end`, for the last part
    /// of a cue spoken in parts, is the sample its cue ends at: sentence silence past it is
    /// dropped (whole cues are limited by the caller, [`Speech::limit_to_cue`]).
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        settings: &Settings,
        mut speech: Speech,
        ssml_marks: Vec<SpokenMark>,
        cue: &schedule::Cue,
        overflow: schedule::Overflow,
        pts: Option<gst::ClockTime>,
        cue_end: Option<u64>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let floor = self.live_floor(state, settings);
        if let Some(cue_end) = cue_end {
            let start = state.schedule.scheduled_end().max(floor.unwrap_or(0));
            let len = cue_end.saturating_sub(start) as usize;
            speech.limit_to_cue(Some(len), schedule::Overflow::Shift);
        }
        let samples = std::mem::take(&mut speech.samples);
        let placed = state.schedule.add(samples, cue, overflow, floor);
        let time_of = |samples| state.timeline.time_of(samples);
        if placed.start > placed.planned {
            gst::element_imp_warning!(
                self,
                gst::CoreError::Clock,
                (
                    "speech for the cue at {} is {} late (synthesis took {:.0} ms): \
                     increase the latency property (now {} ms)",
                    pts.display(),
                    time_of(placed.start) - time_of(placed.planned),
                    speech.infer_seconds * 1000.0,
                    settings.latency_ms
                )
            );
        }
        if let Some(cue) = cue.start
            && placed.start > cue
        {
            gst::debug!(
                CAT,
                imp = self,
                "cue at {} shifted by {}",
                time_of(cue),
                time_of(placed.start) - time_of(cue)
            );
        }
        let obj = self.obj();
        let marks = settings.voice.speech_marks;
        let first_sentence = self
            .sentences
            .fetch_add(speech.chunks.len() as u64, Ordering::SeqCst);
        let words = timed_words(&speech, &state.timeline, placed.start, first_sentence);
        let mut messages: Vec<gst::Message> = speech
            .chunks
            .iter()
            .filter(|_| marks.contains(SpeechMarks::SENTENCE))
            .map(|chunk| {
                let at = placed.start + chunk.start as u64;
                let pts = time_of(at);
                let duration = time_of(at + chunk.len as u64) - pts;
                sentence_message(
                    *CAT,
                    obj.upcast_ref(),
                    &chunk.text,
                    pts,
                    duration,
                    chunk.rtf,
                )
            })
            .collect();
        messages.extend(speech_messages(
            obj.upcast_ref(),
            marks,
            &speech,
            &words,
            &state.timeline,
            placed.start,
        ));
        let ssml_marks: Vec<(String, gst::ClockTime)> = ssml_marks
            .into_iter()
            .filter(|_| marks.contains(SpeechMarks::SSML))
            .map(|m| (m.name, time_of(placed.start + m.offset as u64)))
            .collect();
        let buffers = state.buffers(placed.blocks);
        let speech_start = time_of(placed.start);
        let pushed_to = time_of(state.schedule.pushed());
        drop(guard);

        for message in messages {
            let _ = obj.post_message(message);
        }
        for (name, pts) in ssml_marks {
            self.post_mark(&name, pts);
        }
        // The words stream is never behind the audio (a GAP up to the speech first, so that a
        // sink on each branch can preroll), and the words follow the audio that says them.
        self.words.gap_to(speech_start);
        let flow = self.push_all(buffers);
        self.words.push(&words)?;
        self.words.gap_to(pushed_to);
        flow
    }

    /// Pushes what is held back and the silence up to `until` (if `None`: the end of the speech
    /// or of the last cue, whichever is later).
    fn drain(&self, until: Option<gst::ClockTime>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut buffers = Vec::new();
        let mut gap = None;
        if let Some(state) = self.state.lock().unwrap().as_mut()
            && state.format.is_some()
        {
            let target = until.map_or(state.schedule.stream_end(), |t| state.timeline.sample_at(t));
            let mut blocks = Vec::new();
            state.schedule.advance_to(target, &mut blocks);
            buffers = state.buffers(blocks);
            gap = Some(state.timeline.time_of(state.schedule.pushed()));
        }
        let flow = self.push_all(buffers);
        if let Some(until) = gap {
            self.words.gap_to(until);
        }
        flow
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::FlushStart(_) => {
                self.flushing.store(true, Ordering::SeqCst);
                self.cancel.cancel();
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.schedule.flush();
                    state.segment = gst::FormattedSegment::new();
                }
                self.words.restart(None);
                self.cancel.reset();
                self.flushing.store(false, Ordering::SeqCst);
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::StreamStart(s) => {
                self.words.stream_start(self.obj().upcast_ref(), s);
                self.srcpad.push_event(event)
            }
            EventView::Caps(c) => {
                let markup = c
                    .caps()
                    .structure(0)
                    .and_then(|s| s.get::<&str>("format").ok())
                    == Some("pango-markup");
                let ssml = c
                    .caps()
                    .structure(0)
                    .is_some_and(|s| s.name() == "application/ssml+xml");
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.markup = markup;
                    state.ssml = ssml;
                }
                // Our caps replace the text caps.
                self.words.ensure_caps();
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
                        state.timeline.origin = segment.start().unwrap_or(gst::ClockTime::ZERO);
                        state.schedule.restart();
                        self.words.restart(Some(state.timeline.origin));
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
                let caps = filtered_audio_caps(rate, q.filter());
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
        let templ = klass.pad_template("words").expect("words template");
        let words = WordsPad::new(gst::Pad::builder_from_template(&templ).build());
        NeuralTts {
            sinkpad,
            srcpad,
            words,
            marks_available: AtomicBool::new(false),
            sentences: AtomicU64::new(0),
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            voice: Mutex::new(None),
            cancel: Cancel::new(),
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
        neural_media_gst::name_after_factory(obj.upcast_ref());
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
        obj.add_pad(&self.words.pad).expect("add words pad");
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
            name => settings.voice.set(value, name),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "active-execution-provider" {
            return active_provider(self.state.lock().unwrap().as_ref().map(|s| s.provider));
        }
        if pspec.name() == "speech-marks-available" {
            return self.marks_available.load(Ordering::SeqCst).to_value();
        }
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "latency" => settings.latency_ms.to_value(),
            "overflow" => settings.overflow.to_value(),
            "max-speedup" => settings.max_speedup.to_value(),
            name => settings.voice.get(name),
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
            let mut text = gst::Caps::builder("text/x-raw")
                .field("format", gst::List::new(["utf8", "pango-markup"]))
                .build();
            text.merge(gst::Caps::new_empty_simple("application/ssml+xml"));
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
                gst::PadTemplate::new(
                    "words",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &WordsPad::caps(),
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
                let mut voice = settings.voice.load_voice(Overlap::Allowed).map_err(|err| {
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
                crate::marks::log_availability(*CAT, self.obj().upcast_ref(), &voice);
                self.marks_available
                    .store(voice.has_durations(), Ordering::SeqCst);
                self.sentences.store(0, Ordering::SeqCst);
                *self.upstream_latency.lock().unwrap() = None;
                self.flushing.store(false, Ordering::SeqCst);
                voice.set_cancel(&self.cancel);
                self.cancel.reset();
                *self.state.lock().unwrap() = Some(State::new(&voice));
                *self.voice.lock().unwrap() = Some(voice);
            }
            gst::StateChange::PausedToReady => {
                self.flushing.store(true, Ordering::SeqCst);
                self.cancel.cancel();
            }
            _ => {}
        }
        let ret = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => {
                *self.state.lock().unwrap() = None;
                *self.voice.lock().unwrap() = None;
                self.rate.store(0, Ordering::SeqCst);
                self.marks_available.store(false, Ordering::SeqCst);
                self.words.reset();
            }
            gst::StateChange::ReadyToPaused if ret.is_err() => {
                *self.state.lock().unwrap() = None;
                *self.voice.lock().unwrap() = None;
                self.rate.store(0, Ordering::SeqCst);
            }
            _ => {}
        }
        ret
    }
}
