// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuralttssrc` speaks text with a neural (Piper VITS) voice, sentence by sentence.
//!
//! The text comes from the `text` property, a UTF-8 file (`location`), and the `push-text` action
//! signal (append text while PLAYING). With `text-format=ssml` each of them is one SSML document
//! (the subset of the core's `ssml` module): a `break` between sentences is a buffer of silence
//! and one inside a sentence is silence inside its buffer (a voice with durations; without, it
//! cuts the sentence into two buffers), a prosody change starts a new buffer, each
//! `<mark name=…>` posts a `neuraltts-mark` message
//! (`name`, `pts` in ns), and what the voice cannot honour gives a bus warning (malformed SSML
//! is spoken as its text). Each sentence is synthesised just before it is needed, so
//! the first buffer leaves as soon as the first sentence is ready, memory stays bounded for long
//! texts, and `unlock()`/flushing stops between sentences (or clauses with `chunking=clause`, where
//! each clause is its own model run and buffer: the first audio leaves after the first clause).
//!
//! Output: mono `S16LE` or `F32LE` at the voice's rate, PTS/duration/offsets contiguous from 0,
//! EOS after the last sentence. Not live, the next sentences (or clauses) are synthesised side by
//! side while the first is pushed, one per core of the thread budget, and leave in their order
//! ([`neural_media::tts::lookahead`]). With `is-live=true` the source runs against the clock, never ends
//! on its own and sends silence while it has nothing to say, so mixers and sinks keep running;
//! speech that arrives late (synthesis takes time) starts at the current running time with
//! DISCONT. For each chunk it speaks, it posts an element message `neuraltts-sentence` with
//! `text`, `pts`, `duration` (ns) and `rtf`, so captions can be highlighted in time, and with a
//! voice that gives phoneme durations `neuraltts-word` (byte offsets into the text it came from)
//! and `neuraltts-viseme` messages, as the `speech-marks` flags ask.
//!
//! ```sh
//! gst-launch-1.0 neuralttssrc text="Hello world. How are you?" ! audioconvert ! wavenc ! filesink location=hello.wav
//! ```
//! (`pipelines/speak-text.sh` does the same from a text file.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;
use neural_media::engine::{Cancel, Overlap};
use neural_media::runtime::ExecutionProvider;
use neural_media::tts::lookahead::{self, Lookahead};
use neural_media::tts::marks::SourceCursor;
use neural_media::tts::ssml::{Segment, Step};
use neural_media::tts::{Chunk, ChunkIds, Voice, text, text_to_ids};

use super::TextFormat;
use crate::marks::{SpeechMarks, remap_words, viseme_message, word_message};
use crate::output::{Timeline, sentence_message};
use crate::phonemizer::Espeak;
use crate::settings::{VoiceSettings, active_provider, audio_caps, filtered_audio_caps};
use crate::ssml::Warned;

mod ssml;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuralttssrc",
        gst::DebugColorFlags::empty(),
        Some("Neural TTS source"),
    )
});

const DEFAULT_IS_LIVE: bool = false;
const DEFAULT_TEXT_FORMAT: TextFormat = TextFormat::Plain;
/// Length of the silence buffers sent while a live source is idle; also its latency.
const IDLE_BLOCK: gst::ClockTime = gst::ClockTime::from_mseconds(50);

#[derive(Debug, Clone, Default)]
struct Settings {
    voice: VoiceSettings,
    text: Option<String>,
    location: Option<String>,
    is_live: bool,
    text_format: TextFormat,
}

/// What caps queries and property reads need: never locked across a model run or a clock wait.
#[derive(Clone, Copy)]
struct Info {
    rate: u32,
    provider: ExecutionProvider,
}

/// The streaming thread's state: locked briefly between synthesis and clock waits.
struct State {
    format: gst_audio::AudioFormat,
    /// Sentences waiting to be spoken.
    pending: VecDeque<Pending>,
    /// The next sentence's chunks (one, or one per clause with `chunking=clause`), phonemized
    /// and waiting for their model run: one run per `create()`.
    chunks: VecDeque<Sourced>,
    /// Sample 0 at time 0.
    timeline: Timeline,
    /// Samples produced so far: the next buffer's offset.
    position: u64,
    discont: bool,
    /// SSML (`text-format=ssml`): segments waiting to be phonemized, a sentence at a time.
    segments: VecDeque<Segment>,
    /// SSML: the next sentence's steps (runs, silences, marks).
    steps: VecDeque<Step>,
    /// SSML: the last run ended inside a sentence.
    cut: bool,
    /// SSML warnings posted in this run.
    warned: Warned,
}

/// A sentence waiting to be spoken, and where it starts in the text it came from (the `text`
/// property, the file, or one `push-text`), for the byte offsets of word marks.
struct Pending {
    text: String,
    source: Arc<str>,
    at: usize,
}

/// A chunk's ids, with the source offset of each byte of its text (its length included).
struct Sourced {
    ids: ChunkIds,
    offsets: Vec<usize>,
}

#[derive(Default)]
pub struct NeuralTtsSrc {
    settings: Mutex<Settings>,
    info: Mutex<Option<Info>>,
    state: Mutex<Option<State>>,
    /// The voice: locked by the streaming thread for a model run, and by start/stop.
    voice: Mutex<Option<Voice>>,
    /// Terminates this element's model runs (`unlock()`, a stop).
    cancel: Cancel,
    /// Not live: the sentences synthesised ahead. Locked only to clone or replace it.
    lookahead: Mutex<Option<Arc<Lookahead<Vec<usize>>>>>,
    /// Text from `push-text`, taken by the streaming thread (never blocked by synthesis).
    incoming: Mutex<VecDeque<String>>,
    flushing: AtomicBool,
    /// The clock wait in progress (live mode), so that `unlock()` can cut it short.
    clock_wait: Mutex<Option<gst::SingleShotClockId>>,
    /// Whether the loaded voice gives phoneme durations (`speech-marks-available`).
    marks_available: AtomicBool,
    /// Sentences (chunks) spoken since the start: the next one's index.
    sentences: AtomicU64,
}

impl NeuralTtsSrc {
    /// Live only: moves the position up to the current running time when we fell behind it.
    fn catch_up(&self, state: &mut State) {
        let Some(now) = self.obj().current_running_time() else {
            return;
        };
        let position = state.timeline.time_of(state.position);
        if position + IDLE_BLOCK < now {
            gst::debug!(
                CAT,
                imp = self,
                "behind the clock by {}, resyncing",
                now - position
            );
            state.position = state.timeline.whole_samples_in(now);
            state.discont = true;
        }
    }

    /// Live only: waits until the clock reaches `running_time`, so the source produces in real
    /// time whatever sits downstream. `unlock()` interrupts the wait.
    fn wait_until(&self, running_time: gst::ClockTime) -> Result<(), gst::FlowError> {
        let obj = self.obj();
        let (Some(clock), Some(base_time)) = (obj.clock(), obj.base_time()) else {
            return Ok(());
        };
        let id = clock.new_single_shot_id(base_time + running_time);
        *self.clock_wait.lock().unwrap() = Some(id.clone());
        if self.flushing.load(Ordering::SeqCst) {
            self.clock_wait.lock().unwrap().take();
            return Err(gst::FlowError::Flushing);
        }
        let (result, _jitter) = id.wait();
        self.clock_wait.lock().unwrap().take();
        match result {
            Err(gst::ClockError::Unscheduled) => Err(gst::FlowError::Flushing),
            _ => Ok(()),
        }
    }

    /// The next buffer, at the position; the first after a resync is DISCONT and RESYNC.
    fn buffer(state: &mut State, samples: &[f32], mut flags: gst::BufferFlags) -> gst::Buffer {
        if std::mem::take(&mut state.discont) {
            flags |= gst::BufferFlags::DISCONT | gst::BufferFlags::RESYNC;
        }
        let buffer = state
            .timeline
            .buffer(samples, state.position, state.format, flags);
        state.position += samples.len() as u64;
        buffer
    }

    fn queue_text(pending: &mut VecDeque<Pending>, input: &str) {
        let source: Arc<str> = input.into();
        let mut cursor = SourceCursor::new(input);
        pending.extend(text::sentences(input).iter().map(|s| {
            let text = s.text();
            let at = cursor.locate(&text)[0];
            Pending {
                text,
                source: source.clone(),
                at,
            }
        }));
    }

    fn push_text(&self, input: &str) -> bool {
        if input.trim().is_empty() {
            return false;
        }
        gst::debug!(CAT, imp = self, "text pushed: {} bytes", input.len());
        self.incoming.lock().unwrap().push_back(input.to_owned());
        true
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NeuralTtsSrc {
    const NAME: &'static str = "GstNmNeuralTtsSrc";
    type Type = super::NeuralTtsSrc;
    type ParentType = gst_base::PushSrc;
}

impl ObjectImpl for NeuralTtsSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = vec![
                glib::ParamSpecString::builder("text")
                    .nick("Text")
                    .blurb("Text to speak (spoken before the file's text, if both are set)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("location")
                    .nick("File location")
                    .blurb("UTF-8 text file to speak")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("text-format", DEFAULT_TEXT_FORMAT)
                    .nick("Text format")
                    .blurb("How text, location and push-text are read: plain text, or SSML (each one SSML document)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("is-live")
                    .nick("Is live")
                    .blurb("Run against the clock, wait for pushed text instead of EOS, send silence while idle")
                    .default_value(DEFAULT_IS_LIVE)
                    .mutable_ready()
                    .build(),
            ];
            props.extend(VoiceSettings::properties());
            props
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("push-text")
                    .param_types([String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::NeuralTtsSrc>().expect("signal arg");
                        let text = args[1]
                            .get::<Option<String>>()
                            .expect("signal arg")
                            .unwrap_or_default();
                        Some(element.imp().push_text(&text).to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        neural_media_gst::name_after_factory(obj.upcast_ref());
        obj.set_format(gst::Format::Time);
        obj.set_live(DEFAULT_IS_LIVE);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "text" => settings.text = value.get().expect("type checked upstream"),
            "location" => settings.location = value.get().expect("type checked upstream"),
            "text-format" => settings.text_format = value.get().expect("type checked upstream"),
            "is-live" => {
                settings.is_live = value.get().expect("type checked upstream");
                let is_live = settings.is_live;
                drop(settings);
                self.obj().set_live(is_live);
            }
            name => settings.voice.set(value, name),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "active-execution-provider" {
            return active_provider(self.info.lock().unwrap().map(|i| i.provider));
        }
        if pspec.name() == "speech-marks-available" {
            return self.marks_available.load(Ordering::SeqCst).to_value();
        }
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "text" => settings.text.to_value(),
            "location" => settings.location.to_value(),
            "text-format" => settings.text_format.to_value(),
            "is-live" => settings.is_live.to_value(),
            name => settings.voice.get(name),
        }
    }
}

impl GstObjectImpl for NeuralTtsSrc {}

impl ElementImpl for NeuralTtsSrc {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        // Loading here rather than in start() posts one error: basesrc adds its own
        // "failed to start" to any error of start().
        if transition == gst::StateChange::ReadyToPaused
            && let Err(err) = self.load()
        {
            self.post_error_message(err);
            return Err(gst::StateChangeError);
        }
        self.parent_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Neural TTS source",
                "Source/Audio",
                "Speaks text with a neural (Piper VITS) voice on ONNX Runtime, sentence by sentence",
                "neural-media developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
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
}

impl NeuralTtsSrc {
    /// Loads the voice and reads the text: READY→PAUSED.
    fn load(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        // Plain text that is not live goes through the lookahead, whose runs go side by side on
        // narrow sessions: the voice is loaded for those, and its wide session is only built if
        // a chunk too long for the lookahead comes (no wide session to build before the first
        // chunk: about 0.3 s less start-up for the default voice on 2 cores).
        let overlap = match (settings.is_live, settings.text_format) {
            (false, TextFormat::Plain) => Overlap::Always,
            _ => Overlap::Allowed,
        };
        let mut voice = settings.voice.load_voice(overlap)?;
        gst::info!(
            CAT,
            imp = self,
            "voice {} loaded at {} Hz on {}",
            voice.model_path().display(),
            voice.sample_rate(),
            voice.provider()
        );
        crate::marks::log_availability(*CAT, self.obj().upcast_ref(), &voice);
        self.marks_available
            .store(voice.has_durations(), Ordering::SeqCst);
        self.sentences.store(0, Ordering::SeqCst);
        let mut pending = VecDeque::new();
        let mut segments = VecDeque::new();
        let mut warnings = Vec::new();
        let format = settings.text_format;
        let mut queue = |input: &str| match format {
            TextFormat::Plain => Self::queue_text(&mut pending, input),
            TextFormat::Ssml => Self::queue_ssml(&mut segments, &mut warnings, input),
        };
        if let Some(text) = settings.text.as_deref() {
            queue(text);
        }
        if let Some(location) = settings.location.as_deref().filter(|l| !l.is_empty()) {
            let bytes = std::fs::read(location).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenRead,
                    ("cannot read text file {location}: {e}")
                )
            })?;
            let content = match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => {
                    let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Decode,
                        ("{location} is not valid UTF-8: invalid bytes replaced")
                    );
                    lossy
                }
            };
            queue(&content);
        }
        let mut warned = Warned::default();
        crate::ssml::post_warnings(self.obj().upcast_ref(), &warned.fresh(warnings));
        self.flushing.store(false, Ordering::SeqCst);
        voice.set_cancel(&self.cancel);
        self.cancel.reset();
        *self.info.lock().unwrap() = Some(Info {
            rate: voice.sample_rate(),
            provider: voice.provider(),
        });
        *self.state.lock().unwrap() = Some(State {
            timeline: Timeline::new(voice.sample_rate()),
            format: gst_audio::AudioFormat::S16le,
            pending,
            chunks: VecDeque::new(),
            position: 0,
            discont: false,
            segments,
            steps: VecDeque::new(),
            cut: false,
            warned,
        });
        *self.voice.lock().unwrap() = Some(voice);
        Ok(())
    }
}

impl BaseSrcImpl for NeuralTtsSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        // Normally loaded in change_state already (see there).
        if self.state.lock().unwrap().is_some() {
            return Ok(());
        }
        self.load()
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.lookahead.lock().unwrap() = None;
        *self.state.lock().unwrap() = None;
        *self.voice.lock().unwrap() = None;
        *self.info.lock().unwrap() = None;
        self.marks_available.store(false, Ordering::SeqCst);
        self.incoming.lock().unwrap().clear();
        Ok(())
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let rate = self.info.lock().unwrap().map(|i| i.rate);
        Some(filtered_audio_caps(rate, filter.map(|f| f.as_ref())))
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_audio::AudioInfo::from_caps(caps)
            .map_err(|_| gst::loggable_error!(CAT, "invalid caps {caps}"))?;
        let rate = self.info.lock().unwrap().map(|i| i.rate);
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set while stopped"))?;
        if Some(info.rate()) != rate || info.channels() != 1 {
            return Err(gst::loggable_error!(
                CAT,
                "caps {caps} do not match the voice"
            ));
        }
        state.format = info.format();
        gst::debug!(CAT, imp = self, "negotiated {caps}");
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn query(&self, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let live = self.settings.lock().unwrap().is_live;
            if live {
                q.set(true, IDLE_BLOCK, Some(IDLE_BLOCK));
            } else {
                q.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE);
            }
            return true;
        }
        BaseSrcImplExt::parent_query(self, query)
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(true, Ordering::SeqCst);
        // Terminates a synthesis in progress: create() returns FLUSHING without waiting for it.
        self.cancel.cancel();
        if let Some(lookahead) = self.lookahead.lock().unwrap().as_ref() {
            lookahead.cancel();
        }
        if let Some(id) = self.clock_wait.lock().unwrap().as_ref() {
            id.unschedule();
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(false, Ordering::SeqCst);
        self.cancel.reset();
        if let Some(lookahead) = self.lookahead.lock().unwrap().as_ref() {
            lookahead.reset();
        }
        Ok(())
    }
}

impl NeuralTtsSrc {
    /// Runs `f` on the voice (locked for it; never the state).
    fn with_voice<R>(&self, f: impl FnOnce(&mut Voice) -> R) -> Result<R, gst::FlowError> {
        let mut voice = self.voice.lock().unwrap();
        Ok(f(voice.as_mut().ok_or(gst::FlowError::Flushing)?))
    }

    /// Runs `f` on the state (locked for it).
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        Ok(f(state.as_mut().ok_or(gst::FlowError::Flushing)?))
    }

    /// Live: catches up with the clock and waits until the next buffer's time (no lock held).
    fn pace(&self, is_live: bool) -> Result<(), gst::FlowError> {
        if !is_live {
            return Ok(());
        }
        let at = self.with_state(|state| {
            self.catch_up(state);
            state.timeline.time_of(state.position)
        })?;
        self.wait_until(at)
    }
}

impl NeuralTtsSrc {
    /// Queues the text pushed since the last call (`push-text`), as plain text or SSML.
    fn take_incoming(&self, settings: &Settings) -> Result<(), gst::FlowError> {
        let mut warnings = Vec::new();
        let fresh = self.with_state(|state| {
            for input in self.incoming.lock().unwrap().drain(..) {
                match settings.text_format {
                    TextFormat::Plain => Self::queue_text(&mut state.pending, &input),
                    TextFormat::Ssml => {
                        Self::queue_ssml(&mut state.segments, &mut warnings, &input)
                    }
                }
            }
            state.warned.fresh(std::mem::take(&mut warnings))
        })?;
        crate::ssml::post_warnings(self.obj().upcast_ref(), &fresh);
        Ok(())
    }

    /// SSML: the next buffer of the queued documents (steps run one after another: no
    /// lookahead), or `None` when no SSML is waiting and no plain text comes before it.
    fn next_ssml_buffer(&self, settings: &Settings) -> Result<Option<gst::Buffer>, gst::FlowError> {
        loop {
            let next = self.with_state(|state| {
                if !state.chunks.is_empty() || !state.pending.is_empty() {
                    return None;
                }
                match state.steps.pop_front() {
                    Some(step) => Some(Ok(step)),
                    None => {
                        let len = neural_media::tts::ssml::plan::sentence_len(&state.segments);
                        (len > 0).then(|| Err(state.segments.drain(..len).collect::<Vec<_>>()))
                    }
                }
            })?;
            match next {
                None => return Ok(None),
                Some(Ok(step)) => {
                    if let Some(buffer) = self.ssml_step(settings, step)? {
                        return Ok(Some(buffer));
                    }
                }
                Some(Err(segments)) => self.plan_segments(settings, &segments)?,
            }
        }
    }

    /// The next chunk to speak: a sentence phonemized
    /// when no chunk of the last one is left; `None` when there is nothing to say.
    fn next_chunk(&self, settings: &Settings) -> Result<Option<Sourced>, gst::FlowError> {
        loop {
            let next = self.with_state(|state| match state.chunks.pop_front() {
                Some(chunk) => Ok(chunk),
                None => Err(state.pending.pop_front()),
            })?;
            let sentence = match next {
                Ok(chunk) => return Ok(Some(chunk)),
                Err(None) => return Ok(None),
                Err(Some(sentence)) => sentence,
            };
            let chunks = self.with_voice(|voice| {
                let config = settings.voice.synthesis_config(voice);
                let mut chunks =
                    text_to_ids(&sentence.text, voice.config(), &Espeak, config.chunking)?;
                if config.word_marks && voice.has_durations() {
                    for chunk in &mut chunks {
                        chunk.find_words(voice.config(), &Espeak)?;
                    }
                }
                Ok::<_, neural_media::Error>(chunks)
            })?;
            match chunks {
                Ok(chunks) => {
                    let mut cursor = SourceCursor::at(&sentence.source, sentence.at);
                    let sourced = chunks.into_iter().map(|ids| Sourced {
                        offsets: cursor.locate(&ids.text),
                        ids,
                    });
                    self.with_state(|state| state.chunks.extend(sourced))?
                }
                Err(err) => {
                    return Err(neural_media_gst::stream_failed(
                        &*self.obj(),
                        format_args!("phonemization failed: {err}"),
                    ));
                }
            }
        }
    }

    /// Not live: the next chunk's synthesis (with its source offsets), with the chunks after it
    /// synthesised ahead.
    #[allow(clippy::type_complexity)]
    fn synthesize_ahead(
        &self,
        settings: &Settings,
    ) -> Result<Option<(neural_media::Result<Chunk>, Vec<usize>)>, gst::FlowError> {
        let existing = self.lookahead.lock().unwrap().as_ref().map(Arc::clone);
        let lookahead = match existing {
            Some(lookahead) => lookahead,
            None => {
                // Loaded without the lookahead lock, which unlock() takes.
                let workers = neural_media::engine::budget();
                let lookahead = self
                    .with_voice(|voice| Lookahead::new(voice, workers))?
                    .map_err(|err| {
                        neural_media_gst::stream_failed(&*self.obj(), format_args!("{err}"))
                    })?;
                let lookahead = Arc::new(lookahead);
                *self.lookahead.lock().unwrap() = Some(Arc::clone(&lookahead));
                lookahead
            }
        };
        let config = self.with_voice(|voice| settings.voice.synthesis_config(voice))?;
        while lookahead.in_flight() < lookahead.depth() {
            let Some(chunk) = self.next_chunk(settings)? else {
                break;
            };
            if !lookahead::runs_ahead(&chunk.ids) {
                self.with_state(|state| state.chunks.push_front(chunk))?;
                break;
            }
            if let Err(err) = lookahead.submit(chunk.ids, chunk.offsets, &config) {
                return Err(neural_media_gst::stream_failed(
                    &*self.obj(),
                    format_args!("{err}"),
                ));
            }
        }
        let Some((ids, offsets, result)) = lookahead.next() else {
            // Nothing ahead: a long chunk runs alone, with the whole budget.
            return match self.next_chunk(settings)? {
                Some(Sourced { ids, offsets }) => Ok(Some((
                    self.with_voice(|voice| {
                        voice
                            .with_overlap(Overlap::Never)
                            .synthesize_chunk(ids, &config)
                    })?,
                    offsets,
                ))),
                None => Ok(None),
            };
        };
        if matches!(result, Err(neural_media::Error::Cancelled)) {
            // Nothing is lost: the chunks go back to the front of the queue, in order.
            self.with_state(|state| {
                for (ids, offsets) in lookahead.take_back().into_iter().rev() {
                    state.chunks.push_front(Sourced { ids, offsets });
                }
                state.chunks.push_front(Sourced {
                    ids,
                    offsets: offsets.clone(),
                });
            })?;
        }
        Ok(Some((result, offsets)))
    }

    /// The buffer of a synthesised chunk, at the next position (after the clock, live), with
    /// its marks posted; a cancelled synthesis is FLUSHING, a failed one an error.
    fn chunk_buffer(
        &self,
        settings: &Settings,
        chunk: neural_media::Result<Chunk>,
        offsets: &[usize],
    ) -> Result<gst::Buffer, gst::FlowError> {
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            Err(neural_media::Error::Cancelled) => {
                gst::debug!(CAT, imp = self, "synthesis cancelled");
                return Err(gst::FlowError::Flushing);
            }
            Err(err) => {
                return Err(neural_media_gst::stream_failed(
                    &*self.obj(),
                    format_args!("synthesis failed: {err}"),
                ));
            }
        };
        self.pace(settings.is_live)?;
        let buffer = self
            .with_state(|state| Self::buffer(state, &chunk.samples, gst::BufferFlags::empty()))?;
        self.post_marks(settings, &mut chunk, offsets, &buffer)?;
        Ok(buffer)
    }

    /// Posts the messages of a chunk that `buffer` carries: its sentence, words and visemes, as
    /// `speech-marks` asks.
    fn post_marks(
        &self,
        settings: &Settings,
        chunk: &mut Chunk,
        offsets: &[usize],
        buffer: &gst::Buffer,
    ) -> Result<(), gst::FlowError> {
        let obj = self.obj();
        let marks = settings.voice.speech_marks;
        let sentence = self.sentences.fetch_add(1, Ordering::SeqCst);
        if marks.contains(SpeechMarks::SENTENCE) {
            let _ = obj.post_message(sentence_message(
                *CAT,
                obj.upcast_ref(),
                &chunk.text,
                buffer.pts().unwrap_or_default(),
                buffer.duration().unwrap_or_default(),
                chunk.stats.rtf,
            ));
        }
        let Some(chunk_marks) = chunk.marks.as_mut() else {
            return Ok(());
        };
        remap_words(&mut chunk_marks.words, offsets);
        let start = buffer.offset();
        let timeline = self.with_state(|state| state.timeline)?;
        let at = |sample: usize, len: usize| {
            let pts = timeline.time_of(start + sample as u64);
            (pts, timeline.time_of(start + (sample + len) as u64) - pts)
        };
        if marks.contains(SpeechMarks::WORD) {
            for word in &chunk_marks.words {
                let (pts, duration) = at(word.sample, word.len);
                let _ = obj.post_message(word_message(
                    obj.upcast_ref(),
                    word,
                    pts,
                    duration,
                    sentence,
                ));
            }
        }
        if marks.contains(SpeechMarks::VISEME) {
            for viseme in &chunk_marks.visemes {
                let (pts, duration) = at(viseme.sample, viseme.len);
                let _ = obj.post_message(viseme_message(obj.upcast_ref(), viseme, pts, duration));
            }
        }
        Ok(())
    }
}

impl PushSrcImpl for NeuralTtsSrc {
    fn create(
        &self,
        _buffer: Option<&mut gst::BufferRef>,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        if self.flushing.load(Ordering::SeqCst) {
            return Err(gst::FlowError::Flushing);
        }
        self.take_incoming(&settings)?;
        if let Some(buffer) = self.next_ssml_buffer(&settings)? {
            return Ok(CreateSuccess::NewBuffer(buffer));
        }
        let chunk = if settings.is_live {
            match self.next_chunk(&settings)? {
                Some(Sourced { ids, offsets }) => Some((
                    self.with_voice(|voice| {
                        let config = settings.voice.synthesis_config(voice);
                        voice.synthesize_chunk(ids, &config)
                    })?,
                    offsets,
                )),
                None => None,
            }
        } else {
            self.synthesize_ahead(&settings)?
        };
        let Some((chunk, offsets)) = chunk else {
            if !settings.is_live {
                gst::debug!(CAT, imp = self, "all text spoken");
                return Err(gst::FlowError::Eos);
            }
            self.pace(true)?;
            let buffer = self.with_state(|state| {
                let silence = vec![0.0f32; state.timeline.whole_samples_in(IDLE_BLOCK) as usize];
                Self::buffer(state, &silence, gst::BufferFlags::GAP)
            })?;
            return Ok(CreateSuccess::NewBuffer(buffer));
        };
        let buffer = self.chunk_buffer(&settings, chunk, &offsets)?;
        Ok(CreateSuccess::NewBuffer(buffer))
    }
}
