// SPDX-License-Identifier: MPL-2.0
//! `expressiondescribe` turns the face metas of `faceexpression` into timed sentences, for a
//! voice (`neuraltts`), captions or a log: "Person 1 now looks happy."
//!
//! Video goes in on `sink` and out on `src` untouched (same caps, the same buffers with their
//! metas). For every video frame, the element reads the `face` ROI metas (`expression` params
//! `label` and `track-id`) and keeps the last label per track: a face whose label differs from
//! its track's last one is a change, and so is a new face when `announce-new-faces` is on. Each
//! change becomes one `text/x-raw, format=utf8` buffer on the always `text` pad, with the frame's
//! PTS and `cue-duration` (ms) as duration; its text is `template` with `{id}` (track id) and
//! `{label}` (the label as an adjective: fear → afraid, surprise → surprised, disgust →
//! disgusted, unknown labels as they are) filled in. `min-interval` (ms) allows at most one
//! sentence per track in that time: changes within it are dropped (the newest label is still
//! remembered, so that a later change is measured from it).
//!
//! The text pad has its own stream-start (upstream's stream id + `/text`, same group), fixed
//! caps, and a copy of the video's TIME segment. Between sentences it gets GAP events that keep
//! downstream (`neuraltts`, muxers, mixers) running: whenever a video frame's end (PTS +
//! duration) is at least 200 ms past what the text stream has covered, a GAP covers the rest, and
//! before EOS a last GAP reaches the end of the video. Upstream GAPs are mirrored the same way.
//! Both source pads are fed from the one streaming thread: as after a `tee`, give each branch a
//! `queue` (a sink prerolling on one branch would otherwise block the other).
//! Flushes and stream-starts forget every track; EOS goes out on both pads. Forward playback
//! only (reverse segments get no GAPs).
//!
//! ```sh
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! \
//!     faceexpression ! expressiondescribe name=d ! expressionoverlay ! videoconvert ! \
//!     video/x-raw,format=I420 ! x264enc ! queue ! mp4mux name=m ! filesink location=out.mp4 \
//!     d.text ! queue ! neuraltts ! audioconvert ! audioresample ! avenc_aac ! queue ! m.
//! ```
//! (`pipelines/narrate-expressions.sh` runs the same, with 5 s audio queues so that x264enc's
//! delay starves neither branch.)

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::narrator::{Narrator, Rules, render};
use crate::meta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "expressiondescribe",
        gst::DebugColorFlags::empty(),
        Some("Face expression changes as timed text"),
    )
});

const DEFAULT_ANNOUNCE_NEW_FACES: bool = true;
const DEFAULT_CUE_DURATION_MS: u32 = 2000;
const DEFAULT_MIN_INTERVAL_MS: u32 = 1500;
const DEFAULT_TEMPLATE: &str = "Person {id} now looks {label}.";
/// A GAP goes out once the video is this far past what the text stream has covered.
const GAP_STEP: gst::ClockTime = gst::ClockTime::from_mseconds(200);

#[derive(Debug, Clone)]
struct Settings {
    announce_new_faces: bool,
    cue_duration_ms: u32,
    min_interval_ms: u32,
    template: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            announce_new_faces: DEFAULT_ANNOUNCE_NEW_FACES,
            cue_duration_ms: DEFAULT_CUE_DURATION_MS,
            min_interval_ms: DEFAULT_MIN_INTERVAL_MS,
            template: DEFAULT_TEMPLATE.to_string(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    narrator: Narrator,
    /// The text pad has had its stream-start and caps.
    text_caps_sent: bool,
    /// The text stream is complete up to here (last cue end or GAP end).
    text_pos: Option<gst::ClockTime>,
    /// End of the last video frame (or upstream GAP).
    video_end: Option<gst::ClockTime>,
    /// Forward (rate > 0) TIME segment seen.
    forward: bool,
    /// The next text buffer is DISCONT.
    discont: bool,
}

/// What goes out on the text pad, in order.
enum TextItem {
    Event(gst::Event),
    Buffer(gst::Buffer),
}

pub struct ExpressionDescribe {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    textpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    flow_combiner: Mutex<gst_base::UniqueFlowCombiner>,
    /// The last seek sent upstream: both source pads may relay the same one.
    last_seek: Mutex<Option<gst::Seqnum>>,
}

fn text_caps() -> gst::Caps {
    gst::Caps::builder("text/x-raw")
        .field("format", "utf8")
        .build()
}

/// The `(track id, label)` of each face meta on `buffer` that has a label; the track id is the
/// `expression` param's `track-id`, or the meta's id.
fn faces(buffer: &gst::BufferRef) -> Vec<(u64, String)> {
    meta::faces(buffer)
        .into_iter()
        .filter_map(|face| {
            let id = face.track_id()?;
            Some((id, face.expression?.label?))
        })
        .collect()
}

impl State {
    /// A GAP from where the text stream stands to `until`, when that moves it by at least
    /// `min_step`.
    fn gap_to(&mut self, until: gst::ClockTime, min_step: gst::ClockTime) -> Option<gst::Event> {
        if !self.forward {
            return None;
        }
        let from = self.text_pos?;
        if until < from + min_step || until <= from {
            return None;
        }
        self.text_pos = Some(until);
        Some(gst::event::Gap::new(from, until - from))
    }

    fn video_to(&mut self, end: gst::ClockTime) {
        self.video_end = Some(self.video_end.map_or(end, |e| e.max(end)));
    }
}

impl ExpressionDescribe {
    /// Stream-start (if `stream_start`) and caps on the text pad, once per stream.
    fn text_header(&self, stream_start: Option<gst::Event>) {
        let need_caps = {
            let mut state = self.state.lock().unwrap();
            match state.as_mut() {
                Some(state) if stream_start.is_some() || !state.text_caps_sent => {
                    state.text_caps_sent = true;
                    true
                }
                _ => false,
            }
        };
        if !need_caps {
            return;
        }
        let stream_start = stream_start.unwrap_or_else(|| {
            let id = self.textpad.create_stream_id(&*self.obj(), Some("text"));
            gst::event::StreamStart::new(&id)
        });
        self.textpad.push_event(stream_start);
        self.textpad.push_event(gst::event::Caps::new(&text_caps()));
    }

    fn push_text(&self, items: Vec<TextItem>) -> Option<Result<gst::FlowSuccess, gst::FlowError>> {
        let mut result = None;
        for item in items {
            match item {
                TextItem::Event(event) => {
                    self.textpad.push_event(event);
                }
                TextItem::Buffer(buffer) => {
                    let ret = self.textpad.push(buffer);
                    result = Some(ret);
                    if ret.is_err() {
                        break;
                    }
                }
            }
        }
        result
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let rules = Rules {
            announce_new_faces: settings.announce_new_faces,
            min_interval_ns: gst::ClockTime::from_mseconds(settings.min_interval_ms.into())
                .nseconds(),
        };
        let cue = gst::ClockTime::from_mseconds(settings.cue_duration_ms.into());
        self.text_header(None);

        let mut items = Vec::new();
        {
            let mut state = self.state.lock().unwrap();
            let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
            match buffer.pts() {
                Some(pts) => {
                    let changes = state
                        .narrator
                        .observe(pts.nseconds(), &faces(&buffer), rules);
                    for change in changes {
                        let text = render(&settings.template, &change);
                        gst::debug!(
                            CAT,
                            imp = self,
                            "{pts}: track {} {} → {}: {text:?}",
                            change.track_id,
                            change.old_label.as_deref().unwrap_or("(new)"),
                            change.new_label
                        );
                        let mut out = gst::Buffer::from_mut_slice(text.into_bytes());
                        {
                            let out = out.get_mut().ok_or(gst::FlowError::Error)?;
                            out.set_pts(pts);
                            out.set_duration(cue);
                            if std::mem::take(&mut state.discont) {
                                out.set_flags(gst::BufferFlags::DISCONT);
                            }
                        }
                        items.push(TextItem::Buffer(out));
                        let end = pts + cue;
                        state.text_pos = Some(state.text_pos.map_or(end, |p| p.max(end)));
                    }
                    gst::trace!(CAT, imp = self, "{pts}: {} tracks", state.narrator.tracks());
                    let end = pts + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
                    state.video_to(end);
                    gst::trace!(
                        CAT,
                        imp = self,
                        "frame ends {end}, text covered up to {:?}",
                        state.text_pos
                    );
                    if let Some(gap) = state.gap_to(end, GAP_STEP) {
                        items.push(TextItem::Event(gap));
                    }
                }
                None => gst::log!(CAT, imp = self, "frame without PTS: no text for it"),
            }
        }

        let text_ret = self.push_text(items);
        let video_ret = self.srcpad.push(buffer);
        let mut combiner = self.flow_combiner.lock().unwrap();
        if let Some(text_ret) = text_ret {
            let _ = combiner.update_pad_flow(&self.textpad, text_ret);
        }
        combiner.update_pad_flow(&self.srcpad, video_ret)
    }

    fn reset_tracks(&self) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.narrator.reset();
            state.discont = true;
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::StreamStart(s) => {
                self.reset_tracks();
                let id = format!("{}/text", s.stream_id());
                let text_start = gst::event::StreamStart::builder(&id)
                    .group_id_if_some(s.group_id())
                    .seqnum(event.seqnum())
                    .build();
                self.text_header(Some(text_start));
                self.srcpad.push_event(event)
            }
            EventView::Caps(_) => {
                self.text_header(None);
                self.srcpad.push_event(event)
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
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.forward = segment.rate() > 0.0;
                    state.text_pos = segment.start();
                    state.video_end = None;
                    state.discont = true;
                }
                self.text_header(None);
                self.textpad.push_event(
                    gst::event::Segment::builder(&segment)
                        .seqnum(event.seqnum())
                        .build(),
                );
                self.srcpad.push_event(event)
            }
            EventView::Gap(g) => {
                let (pts, duration) = g.get();
                let end = pts + duration.unwrap_or(gst::ClockTime::ZERO);
                let gap = self.state.lock().unwrap().as_mut().and_then(|state| {
                    state.video_to(end);
                    state.gap_to(end, gst::ClockTime::ZERO)
                });
                if let Some(gap) = gap {
                    self.textpad.push_event(gap);
                }
                self.srcpad.push_event(event)
            }
            EventView::Eos(_) => {
                let gap = self.state.lock().unwrap().as_mut().and_then(|state| {
                    let end = state.video_end?;
                    state.gap_to(end, gst::ClockTime::ZERO)
                });
                if let Some(gap) = gap {
                    self.textpad.push_event(gap);
                }
                self.textpad
                    .push_event(gst::event::Eos::builder().seqnum(event.seqnum()).build());
                self.srcpad.push_event(event)
            }
            EventView::FlushStart(_) => {
                self.textpad.push_event(event.clone());
                self.srcpad.push_event(event)
            }
            EventView::FlushStop(_) => {
                self.reset_tracks();
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.text_pos = None;
                    state.video_end = None;
                }
                self.flow_combiner.lock().unwrap().reset();
                self.textpad.push_event(event.clone());
                self.srcpad.push_event(event)
            }
            // Tags, stream collections, …: they describe the video.
            _ => self.srcpad.push_event(event),
        }
    }

    fn sink_query(&self, _pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = self.srcpad.peer_query_caps(q.filter_owned().as_ref());
                q.set_result(&caps.intersect(&self.sinkpad.pad_template_caps()));
                true
            }
            _ => self.srcpad.peer_query(query),
        }
    }

    fn src_query(&self, _pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = self.sinkpad.peer_query_caps(q.filter_owned().as_ref());
                q.set_result(&caps.intersect(&self.srcpad.pad_template_caps()));
                true
            }
            _ => self.sinkpad.peer_query(query),
        }
    }

    fn text_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                let caps = match q.filter() {
                    Some(filter) => {
                        filter.intersect_with_mode(&text_caps(), gst::CapsIntersectMode::First)
                    }
                    None => text_caps(),
                };
                q.set_result(&caps);
                true
            }
            QueryViewMut::Position(_)
            | QueryViewMut::Duration(_)
            | QueryViewMut::Seeking(_)
            | QueryViewMut::Segment(_)
            | QueryViewMut::Latency(_) => self.sinkpad.peer_query(query),
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Seek(_) => {
                let mut last = self.last_seek.lock().unwrap();
                if *last == Some(event.seqnum()) {
                    gst::debug!(CAT, obj = pad, "seek already sent upstream");
                    return true;
                }
                *last = Some(event.seqnum());
                drop(last);
                self.sinkpad.push_event(event)
            }
            // The text stream has fixed caps and nothing to drop.
            EventView::Qos(_) | EventView::Reconfigure(_) | EventView::Navigation(_)
                if pad == &self.textpad =>
            {
                true
            }
            _ => self.sinkpad.push_event(event),
        }
    }
}

impl ExpressionDescribe {
    /// A pad from the class's template `name`, with these event and query handlers.
    fn pad_builder(
        klass: &<Self as ObjectSubclass>::Class,
        name: &str,
        event: fn(&Self, &gst::Pad, gst::Event) -> bool,
        query: fn(&Self, &gst::Pad, &mut gst::QueryRef) -> bool,
    ) -> gst::PadBuilder<gst::Pad> {
        let templ = klass.pad_template(name).expect("pad template");
        gst::Pad::builder_from_template(&templ)
            .event_function(move |pad, parent, e| {
                ExpressionDescribe::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| event(imp, pad, e),
                )
            })
            .query_function(move |pad, parent, q| {
                ExpressionDescribe::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| query(imp, pad, q),
                )
            })
    }
}

#[glib::object_subclass]
impl ObjectSubclass for ExpressionDescribe {
    const NAME: &'static str = "GstNmExpressionDescribe";
    type Type = super::ExpressionDescribe;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = Self::pad_builder(klass, "sink", Self::sink_event, Self::sink_query)
            .chain_function(|_pad, parent, buffer| {
                ExpressionDescribe::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .build();
        let srcpad = Self::pad_builder(klass, "src", Self::src_event, Self::src_query).build();
        let textpad = Self::pad_builder(klass, "text", Self::src_event, Self::text_query).build();
        ExpressionDescribe {
            sinkpad,
            srcpad,
            textpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            flow_combiner: Mutex::new(gst_base::UniqueFlowCombiner::new()),
            last_seek: Mutex::new(None),
        }
    }
}

impl ObjectImpl for ExpressionDescribe {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoolean::builder("announce-new-faces")
                    .nick("Announce new faces")
                    .blurb("Speak a sentence for a face seen for the first time")
                    .default_value(DEFAULT_ANNOUNCE_NEW_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("cue-duration")
                    .nick("Cue duration")
                    .blurb("Duration of each text buffer, in milliseconds")
                    .minimum(1)
                    .maximum(60_000)
                    .default_value(DEFAULT_CUE_DURATION_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-interval")
                    .nick("Minimum interval")
                    .blurb(
                        "At most one sentence per track in this time, in milliseconds \
                         (changes within it are dropped)",
                    )
                    .minimum(0)
                    .maximum(600_000)
                    .default_value(DEFAULT_MIN_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("template")
                    .nick("Template")
                    .blurb(
                        "Sentence for a change: {id} is the track id, {label} the expression \
                         as an adjective (afraid, surprised, …)",
                    )
                    .default_value(Some(DEFAULT_TEMPLATE))
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        neural_media_gst::name_after_factory(obj.upcast_ref());
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
        obj.add_pad(&self.textpad).expect("add text pad");
        let mut combiner = self.flow_combiner.lock().unwrap();
        combiner.add_pad(&self.srcpad);
        combiner.add_pad(&self.textpad);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "announce-new-faces" => {
                settings.announce_new_faces = value.get().expect("type checked upstream")
            }
            "cue-duration" => {
                settings.cue_duration_ms = value.get().expect("type checked upstream")
            }
            "min-interval" => {
                settings.min_interval_ms = value.get().expect("type checked upstream")
            }
            "template" => {
                settings.template = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string())
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "announce-new-faces" => settings.announce_new_faces.to_value(),
            "cue-duration" => settings.cue_duration_ms.to_value(),
            "min-interval" => settings.min_interval_ms.to_value(),
            "template" => settings.template.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for ExpressionDescribe {}

impl ElementImpl for ExpressionDescribe {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face expression describer",
                "Filter/Analyzer/Video/Text",
                "Passes video through and emits one timed sentence per face expression change read from the face ROI metas",
                "neural-media developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst::Caps::builder("video/x-raw").any_features().build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &video,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &video,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "text",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &text_caps(),
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
        if transition == gst::StateChange::ReadyToPaused {
            *self.state.lock().unwrap() = Some(State {
                discont: true,
                forward: true,
                ..State::default()
            });
            *self.last_seek.lock().unwrap() = None;
            self.flow_combiner.lock().unwrap().reset();
        }
        let ret = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady
            || (transition == gst::StateChange::ReadyToPaused && ret.is_err())
        {
            *self.state.lock().unwrap() = None;
        }
        ret
    }
}
