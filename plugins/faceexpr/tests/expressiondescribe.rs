// SPDX-License-Identifier: MPL-2.0
//! `expressiondescribe`: sentences for hand-made face metas whose labels change over time (text,
//! PTS, duration, `min-interval`, `announce-new-faces`, template), video passed through as it
//! is, the text pad's own stream-start/caps/segment, GAPs that cover the time without
//! sentences, EOS on both pads, flushes, and the real sample video after `faceexpression`.

use gst::prelude::*;
use neural_media_test_support as support;

fn init() {
    support::init_once(gstfaceexpr::plugin_register_static);
}

const FRAME: gst::ClockTime = gst::ClockTime::from_mseconds(40);

fn ms(ms: u64) -> gst::ClockTime {
    gst::ClockTime::from_mseconds(ms)
}

/// The element, a harness on its video pads and one on its text pad.
struct Rig {
    element: gst::Element,
    video: gst_check::Harness,
    text: gst_check::Harness,
}

fn rig(props: &[(&str, &str)]) -> Rig {
    init();
    let element = gst::ElementFactory::make("expressiondescribe")
        .build()
        .expect("expressiondescribe");
    for (name, value) in props {
        element.set_property_from_str(name, value);
    }
    let mut video = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    let text = gst_check::Harness::with_element(&element, None, Some("text"));
    video.set_src_caps_str("video/x-raw,format=RGBA,width=4,height=4,framerate=25/1");
    Rig {
        element,
        video,
        text,
    }
}

/// A 4×4 RGBA frame at `at` (40 ms long) with one face meta per `(track id, label)`.
fn frame(at: gst::ClockTime, faces: &[(u64, &str)]) -> gst::Buffer {
    let data: Vec<u8> = (0..64u8).collect();
    let mut buffer = gst::Buffer::from_mut_slice(data);
    {
        let buffer = buffer.get_mut().unwrap();
        buffer.set_pts(at);
        buffer.set_duration(FRAME);
        for &(id, label) in faces {
            let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, "face", (1, 1, 2, 2));
            meta.set_id(id as i32);
            meta.add_param(
                gst::Structure::builder("expression")
                    .field("label", label)
                    .field("confidence", 0.8f64)
                    .field("track-id", id)
                    .build(),
            );
        }
    }
    buffer
}

/// (PTS ms, duration ms, text) of one text buffer.
fn sentence(buffer: &gst::Buffer) -> (u64, u64, String) {
    let map = buffer.map_readable().unwrap();
    (
        buffer.pts().unwrap().mseconds(),
        buffer.duration().unwrap().mseconds(),
        std::str::from_utf8(&map).unwrap().to_string(),
    )
}

impl Rig {
    /// Pushes frames at 0, 40, 80 … ms up to `until_ms` (excluded), each with the faces that
    /// `script` gives for its time, and returns every sentence that came out.
    fn play(
        &mut self,
        from_ms: u64,
        until_ms: u64,
        script: impl Fn(u64) -> Vec<(u64, &'static str)>,
    ) -> Vec<(u64, u64, String)> {
        for t in (from_ms..until_ms).step_by(40) {
            let faces = script(t);
            self.video.push(frame(ms(t), &faces)).expect("frame pushed");
            let out = self.video.pull().expect("frame out");
            assert_eq!(out.pts(), Some(ms(t)));
        }
        let mut sentences = Vec::new();
        while let Some(buffer) = self.text.try_pull() {
            sentences.push(sentence(&buffer));
        }
        sentences
    }

    /// The text pad's events so far, after its sticky stream-start, caps and segment.
    fn text_events(&mut self) -> Vec<gst::Event> {
        std::iter::from_fn(|| self.text.try_pull_event()).collect()
    }
}

fn s(pts: u64, dur: u64, text: &str) -> (u64, u64, String) {
    (pts, dur, text.to_string())
}

#[test]
fn one_sentence_per_change_with_min_interval() {
    let mut rig = rig(&[]);
    let said = rig.play(0, 6000, |t| match t {
        // Track 1: sad, happy at 2 s, angry at 2.4 s (within 1.5 s of "happy": dropped),
        // still angry later (not a change: "angry" was remembered), surprise at 4.4 s.
        0..2000 => vec![(1, "sad")],
        2000..2400 => vec![(1, "happy")],
        2400..4200 => vec![(1, "angry")],
        // Track 2 appears at 4.2 s, track 1 changes at 4.4 s.
        4200..4400 => vec![(1, "angry"), (2, "fear")],
        4400.. => vec![(1, "surprise"), (2, "fear")],
    });
    assert_eq!(
        said,
        [
            s(0, 2000, "Person 1 now looks sad."),
            s(2000, 2000, "Person 1 now looks happy."),
            s(4200, 2000, "Person 2 now looks afraid."),
            s(4400, 2000, "Person 1 now looks surprised."),
        ]
    );
}

#[test]
fn template_cue_duration_and_unknown_labels() {
    let mut rig = rig(&[
        ("template", "{id}: {label}!"),
        ("cue-duration", "750"),
        ("min-interval", "0"),
    ]);
    let said = rig.play(0, 200, |t| match t {
        0 => vec![(7, "disgust")],
        40 => vec![(7, "bored")],
        _ => vec![(7, "neutral")],
    });
    assert_eq!(
        said,
        [
            s(0, 750, "7: disgusted!"),
            s(40, 750, "7: bored!"),
            s(80, 750, "7: neutral!")
        ]
    );
}

#[test]
fn new_faces_are_silent_without_announce_new_faces() {
    let mut rig = rig(&[("announce-new-faces", "false")]);
    let said = rig.play(0, 1000, |t| match t {
        0..500 => vec![(1, "neutral")],
        _ => vec![(1, "happy"), (2, "sad")],
    });
    assert_eq!(said, [s(520, 2000, "Person 1 now looks happy.")]);
}

#[test]
fn video_passes_through_unchanged() {
    let mut rig = rig(&[]);
    let input = frame(ms(120), &[(3, "happy"), (4, "sad")]);
    let pointer = input.as_ptr();
    rig.video.push(input).unwrap();
    let out = rig.video.pull().unwrap();
    assert_eq!(out.as_ptr(), pointer, "the very same buffer");
    assert_eq!(out.pts(), Some(ms(120)));
    assert_eq!(out.duration(), Some(FRAME));
    let map = out.map_readable().unwrap();
    assert_eq!(&*map, &(0..64u8).collect::<Vec<_>>()[..]);
    let metas: Vec<(i32, String)> = out
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|m| {
            let label = m.param("expression").unwrap().get::<String>("label");
            (m.id(), label.unwrap())
        })
        .collect();
    assert_eq!(metas, [(3, "happy".to_string()), (4, "sad".to_string())]);
    let caps = rig.video.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(
        caps.to_string(),
        "video/x-raw, format=(string)RGBA, width=(int)4, height=(int)4, framerate=(fraction)25/1"
    );
}

#[test]
fn text_pad_has_its_own_stream_caps_and_segment() {
    let mut rig = rig(&[]);
    rig.video.push(frame(ms(0), &[])).unwrap();
    let events = rig.text_events();
    let kinds: Vec<gst::EventType> = events.iter().map(|e| e.type_()).collect();
    assert_eq!(
        &kinds[..3],
        [
            gst::EventType::StreamStart,
            gst::EventType::Caps,
            gst::EventType::Segment
        ]
    );
    let video_start = rig
        .video
        .sinkpad()
        .unwrap()
        .sticky_event::<gst::event::StreamStart>(0)
        .unwrap();
    let gst::EventView::StreamStart(text_start) = events[0].view() else {
        unreachable!()
    };
    assert_ne!(text_start.stream_id(), video_start.stream_id());
    assert!(text_start.stream_id().starts_with(video_start.stream_id()));
    assert_eq!(text_start.group_id(), video_start.group_id());
    let gst::EventView::Caps(caps) = events[1].view() else {
        unreachable!()
    };
    assert_eq!(caps.caps().to_string(), "text/x-raw, format=(string)utf8");

    // A new segment is mirrored.
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(ms(5000));
    segment.set_base(ms(100));
    rig.video.push_event(gst::event::Segment::new(&segment));
    let events = rig.text_events();
    let gst::EventView::Segment(mirrored) = events[0].view() else {
        panic!("{events:?}")
    };
    let mirrored = mirrored.segment().downcast_ref::<gst::ClockTime>().unwrap();
    assert_eq!(mirrored.start(), Some(ms(5000)));
    assert_eq!(mirrored.base(), Some(ms(100)));
}

/// GAP events and cues cover the whole text stream, without going back, up to EOS.
#[test]
fn gaps_cover_the_time_between_sentences_and_eos_reaches_both_pads() {
    let mut rig = rig(&[]);
    let said = rig.play(0, 5000, |t| match t {
        1000..3000 => vec![(1, "happy")],
        _ => vec![],
    });
    assert_eq!(said, [s(1000, 2000, "Person 1 now looks happy.")]);
    rig.video.push_event(gst::event::Eos::new());

    let events = rig.text_events();
    let gaps: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e.view() {
            gst::EventView::Gap(g) => {
                let (pts, duration) = g.get();
                Some((pts.mseconds(), duration.unwrap().mseconds()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        events.last().map(|e| e.type_()),
        Some(gst::EventType::Eos),
        "EOS on the text pad"
    );
    // Gaps and the cue [1000, 3000) tile [0, 5000): contiguous, none longer than 200 ms + a
    // frame before the cue, and the last one ending with the last frame.
    let mut covered = vec![(1000, 3000)];
    covered.extend(gaps.iter().map(|&(pts, d)| (pts, pts + d)));
    covered.sort();
    let mut at = 0;
    for &(from, to) in &covered {
        assert_eq!(from, at, "no hole or overlap: {covered:?}");
        assert!(
            to - from <= 240 || (from, to) == (1000, 3000),
            "{covered:?}"
        );
        at = to;
    }
    assert_eq!(at, 5000, "{covered:?}");
    assert!(gaps.len() >= 15, "a GAP at least every 240 ms: {gaps:?}");

    let video_events: Vec<gst::EventType> = std::iter::from_fn(|| rig.video.try_pull_event())
        .map(|e| e.type_())
        .collect();
    assert_eq!(video_events.last(), Some(&gst::EventType::Eos));
    assert!(
        !video_events.contains(&gst::EventType::Gap),
        "no GAPs on the video pad"
    );
}

#[test]
fn flush_forgets_the_tracks() {
    let mut rig = rig(&[]);
    let said = rig.play(0, 400, |_| vec![(1, "happy")]);
    assert_eq!(said, [s(0, 2000, "Person 1 now looks happy.")]);
    rig.video.push_event(gst::event::FlushStart::new());
    rig.video.push_event(gst::event::FlushStop::new(true));
    let events: Vec<gst::EventType> = rig.text_events().iter().map(|e| e.type_()).collect();
    assert!(
        events.contains(&gst::EventType::FlushStart) && events.contains(&gst::EventType::FlushStop),
        "flush on the text pad: {events:?}"
    );
    rig.video
        .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
    // The same face, the same label, 400 ms later (well within min-interval): new again.
    let said = rig.play(400, 480, |_| vec![(1, "happy")]);
    assert_eq!(said, [s(400, 2000, "Person 1 now looks happy.")]);
}

#[test]
fn non_time_segment_is_an_error() {
    let mut rig = rig(&[]);
    let bus = gst::Bus::new();
    rig.element.set_bus(Some(&bus));
    let segment = gst::FormattedSegment::<gst::format::Bytes>::new();
    rig.video.push_event(gst::event::Segment::new(&segment));
    let msg = bus
        .pop_filtered(&[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    assert!(
        err.error().to_string().contains("TIME segment"),
        "{}",
        err.error()
    );
}

/// `faceexpression ! expressiondescribe` on the sample video: the face's first expression is
/// announced near the start, as a sentence from the template.
#[test]
fn sample_video_gets_sentences() {
    init();
    let path = support::media("WolfgangLanger_Pexels.mp4");
    let pipeline = support::pipeline(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
         ! faceexpression threads=2 ! expressiondescribe name=d ! queue ! fakesink \
         d.text ! queue ! appsink name=text sync=false",
        path.display()
    ));
    let sink = support::app_sink(&pipeline, "text");
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut said = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(120)) {
        said.push(sentence(&sample.buffer_owned().unwrap()));
    }
    assert!(sink.is_eos(), "text pad reached EOS");
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("error: {} ({:?})", e.error(), e.debug());
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    eprintln!("sentences: {said:?}");
    assert!(!said.is_empty());
    let (pts, duration, text) = &said[0];
    assert!(*pts < 1000, "the face is announced at once: {said:?}");
    assert_eq!(*duration, 2000);
    assert!(
        text.starts_with("Person 1 now looks ") && text.ends_with('.'),
        "{text}"
    );
    for pair in said.windows(2) {
        assert!(pair[1].0 >= pair[0].0 + 1500, "min-interval: {said:?}");
    }
}
