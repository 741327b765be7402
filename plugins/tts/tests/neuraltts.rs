// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts` on the real voice and real espeak-ng: speech placed at the cues' timestamps with
//! contiguous silence between them, the four overflow policies, EOS after pending speech, bad
//! UTF-8, pango markup, the LATENCY query, late cues with a live upstream, and SRT pipelines
//! through `subparse` into `wavenc` and `audiomixer`.

use gst::prelude::*;
use neural_media_test_support::{self as support, rms, s16le_samples as samples_of};

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

const RATE: u64 = 22050;

fn secs(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s * 1e9).round() as u64)
}

/// A cue: text (bytes, so that invalid UTF-8 can be sent), PTS and duration in seconds.
struct Cue<'a> {
    text: &'a [u8],
    pts: Option<f64>,
    duration: Option<f64>,
}

fn cue(text: &str, pts: f64, duration: f64) -> Cue<'_> {
    Cue {
        text: text.as_bytes(),
        pts: Some(pts),
        duration: Some(duration),
    }
}

#[derive(Debug)]
struct Sentence {
    text: String,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
}

impl Sentence {
    fn end(&self) -> gst::ClockTime {
        self.pts + self.duration
    }
}

struct Output {
    caps: gst::Caps,
    buffers: Vec<gst::Buffer>,
    sentences: Vec<Sentence>,
    warnings: Vec<String>,
}

impl Output {
    /// The samples of the whole output, from PTS 0.
    fn samples(&self) -> Vec<i16> {
        self.buffers.iter().flat_map(samples_of).collect()
    }

    /// Samples in `[from, to)` seconds.
    fn window(&self, from: f64, to: f64) -> Vec<i16> {
        let all = self.samples();
        let at = |s: f64| ((s * RATE as f64) as usize).min(all.len());
        all[at(from)..at(to)].to_vec()
    }

    /// Samples of the speech (buffers not flagged GAP).
    fn speech(&self) -> Vec<i16> {
        self.buffers
            .iter()
            .filter(|b| !b.flags().contains(gst::BufferFlags::GAP))
            .flat_map(samples_of)
            .collect()
    }

    /// End of the last non-silent sample, in seconds.
    fn last_sound(&self) -> f64 {
        let all = self.samples();
        let last = all.iter().rposition(|&s| s.abs() > 300).unwrap_or(0);
        (last + 1) as f64 / RATE as f64
    }

    fn assert_contiguous_from_zero(&self) {
        let mut expected = 0u64;
        for b in &self.buffers {
            assert_eq!(b.offset(), expected, "contiguous offsets");
            let pts = gst::ClockTime::SECOND
                .mul_div_floor(expected, RATE)
                .unwrap();
            assert_eq!(b.pts(), Some(pts), "contiguous PTS");
            expected += b.size() as u64 / 2;
            assert_eq!(b.offset_end(), expected);
            let end = gst::ClockTime::SECOND
                .mul_div_floor(expected, RATE)
                .unwrap();
            assert_eq!(b.duration(), Some(end - pts), "duration matches samples");
            if b.flags().contains(gst::BufferFlags::GAP) {
                assert!(
                    samples_of(b).iter().all(|&s| s == 0),
                    "GAP buffers are silent"
                );
            }
        }
    }
}

/// Runs `neuraltts` in a Harness over `cues`, then EOS; collects everything it sends.
fn run(props: &[(&str, &str)], caps: &str, cues: &[Cue]) -> Output {
    init();
    let (mut h, element, bus) = support::harness_with_bus("neuraltts");
    element.set_property("noise-scale", 0.0f64);
    element.set_property("noise-w", 0.0f64);
    element.set_property("sentence-silence", 0.0f64);
    for (name, value) in props {
        element.set_property_from_str(name, value);
    }
    h.play();
    h.set_src_caps_str(caps);
    for c in cues {
        let mut buffer = gst::Buffer::from_slice(c.text.to_vec());
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(c.pts.map(secs));
            b.set_duration(c.duration.map(secs));
        }
        assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let mut buffers = Vec::new();
    while let Some(b) = h.try_pull() {
        buffers.push(b);
    }
    let mut eos = false;
    while let Some(e) = h.try_pull_event() {
        eos |= e.type_() == gst::EventType::Eos;
    }
    assert!(eos, "EOS forwarded after the audio");
    let caps = h
        .sinkpad()
        .and_then(|p| p.current_caps())
        .expect("negotiated caps");
    let (sentences, warnings) = messages(&bus);
    element.set_bus(None);
    Output {
        caps,
        buffers,
        sentences,
        warnings,
    }
}

fn messages(bus: &gst::Bus) -> (Vec<Sentence>, Vec<String>) {
    let mut sentences = Vec::new();
    let mut warnings = Vec::new();
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "neuraltts-sentence" {
                    sentences.push(Sentence {
                        text: s.get("text").unwrap(),
                        pts: gst::ClockTime::from_nseconds(s.get("pts").unwrap()),
                        duration: gst::ClockTime::from_nseconds(s.get("duration").unwrap()),
                    });
                }
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    (sentences, warnings)
}

const UTF8: &str = "text/x-raw,format=utf8";
const LONG: &str = "This sentence is far too long for the very short cue that it was given.";

#[test]
fn two_cues_start_at_their_timestamps_with_silence_between() {
    let out = run(
        &[],
        UTF8,
        &[
            cue("Hello there, this is the first cue.", 0.0, 3.0),
            cue("And this is the second one.", 5.0, 3.0),
        ],
    );
    let s = out.caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("format").unwrap(), "S16LE");
    assert_eq!(s.get::<i32>("rate").unwrap(), 22050);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
    out.assert_contiguous_from_zero();

    let first_speech = out
        .buffers
        .iter()
        .find(|b| !b.flags().contains(gst::BufferFlags::GAP))
        .unwrap();
    assert_eq!(first_speech.pts(), Some(gst::ClockTime::ZERO));
    // The first audio after 5 s that is not a gap starts at 5 s (within one buffer).
    let second = out
        .buffers
        .iter()
        .find(|b| {
            b.pts().unwrap() + b.duration().unwrap() > secs(5.0)
                && !b.flags().contains(gst::BufferFlags::GAP)
        })
        .unwrap();
    let diff = second
        .pts()
        .unwrap()
        .nseconds()
        .abs_diff(secs(5.0).nseconds());
    assert!(diff < second.duration().unwrap().nseconds(), "{second:?}");
    assert_eq!(second.pts(), Some(secs(5.0)), "sample-accurate in fact");
    assert!(rms(&samples_of(second)) > 500.0);
    // Silence (GAP buffers) between the cues.
    let first_end = out.sentences[0].end();
    assert!(first_end < secs(3.0), "first cue fits: {first_end}");
    let gaps: Vec<_> = out
        .buffers
        .iter()
        .filter(|b| b.pts().unwrap() >= first_end && b.pts().unwrap() < secs(5.0))
        .collect();
    assert!(!gaps.is_empty());
    assert!(
        gaps.iter()
            .all(|b| b.flags().contains(gst::BufferFlags::GAP))
    );

    let texts: Vec<_> = out.sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Hello there, this is the first cue.",
            "And this is the second one."
        ]
    );
    assert_eq!(out.sentences[0].pts, gst::ClockTime::ZERO);
    assert_eq!(out.sentences[1].pts, secs(5.0));
    // The output covers the text stream up to the end of the second cue (5 s + 3 s), past
    // its speech.
    let last = out.buffers.last().unwrap();
    assert!(out.sentences[1].end() < secs(8.0));
    assert_eq!(
        last.pts().unwrap() + last.duration().unwrap(),
        secs(8.0),
        "output ends with the last cue"
    );
}

/// The natural length of `text` (a cue long enough for it).
fn natural_seconds(text: &str) -> f64 {
    let out = run(&[("overflow", "shift")], UTF8, &[cue(text, 0.0, 30.0)]);
    assert_eq!(out.sentences.len(), 1);
    out.sentences[0].duration.seconds_f64()
}

#[test]
fn clip_cuts_the_speech_at_the_cue_end() {
    let out = run(
        &[("overflow", "clip")],
        UTF8,
        &[cue(LONG, 0.0, 1.0), cue("Next.", 1.5, 1.0)],
    );
    out.assert_contiguous_from_zero();
    assert_eq!(out.sentences[0].duration, secs(1.0), "clipped to the cue");
    assert!(
        rms(&out.window(0.0, 1.0)) > 500.0,
        "speech up to the cue end"
    );
    assert!(
        out.window(1.0, 1.5).iter().all(|&s| s == 0),
        "silence after the cue end"
    );
    assert_eq!(out.sentences[1].pts, secs(1.5), "next cue on time");
}

#[test]
fn shift_delays_the_next_cue() {
    let out = run(
        &[("overflow", "shift")],
        UTF8,
        &[cue(LONG, 0.0, 1.0), cue("Next.", 1.5, 1.0)],
    );
    out.assert_contiguous_from_zero();
    let first = &out.sentences[0];
    assert!(
        first.duration > secs(3.0),
        "not clipped: {}",
        first.duration
    );
    assert_eq!(
        out.sentences[1].pts,
        first.end(),
        "next cue right after the first"
    );
}

#[test]
fn overlap_mixes_the_next_cue_in_at_its_own_time() {
    let out = run(
        &[("overflow", "overlap")],
        UTF8,
        &[cue(LONG, 0.0, 1.0), cue("Next.", 1.5, 1.0)],
    );
    out.assert_contiguous_from_zero();
    let first = &out.sentences[0];
    assert!(
        first.duration > secs(3.0),
        "not clipped: {}",
        first.duration
    );
    assert_eq!(out.sentences[1].pts, secs(1.5), "next cue at its own PTS");
    // Everything held back comes out before EOS: the output lasts as long as the first cue.
    let total = out.samples().len() as f64 / RATE as f64;
    assert!(
        (total - first.end().seconds_f64()).abs() < 0.001,
        "{total} s"
    );
    // The mix differs from the first cue alone where they overlap.
    let alone = run(&[("overflow", "overlap")], UTF8, &[cue(LONG, 0.0, 1.0)]);
    assert_eq!(
        out.window(0.0, 1.5),
        alone.window(0.0, 1.5),
        "same speech before the second cue"
    );
    assert_ne!(
        out.window(1.5, 2.0),
        alone.window(1.5, 2.0),
        "second cue mixed in"
    );
}

#[test]
fn fit_speeds_speech_up_into_the_cue() {
    let natural = natural_seconds(LONG);
    let cue_seconds = natural / 1.2;
    let out = run(
        &[],
        UTF8,
        &[cue(LONG, 0.0, cue_seconds), cue("Next.", cue_seconds, 1.0)],
    );
    let first = &out.sentences[0];
    let fitted = first.duration.seconds_f64();
    assert!(
        fitted <= cue_seconds + 0.01,
        "{fitted} s in a {cue_seconds} s cue (natural {natural} s)"
    );
    assert!(fitted > natural / 1.3, "not faster than needed: {fitted} s");
    assert!(out.last_sound() > cue_seconds, "the next cue is spoken");
    let late = out.sentences[1]
        .pts
        .nseconds()
        .abs_diff(secs(cue_seconds).nseconds());
    assert!(
        late < 1_000_000_000 / RATE,
        "next cue on time (to the sample)"
    );
}

#[test]
fn fit_falls_back_to_shift_beyond_max_speedup() {
    let natural = natural_seconds(LONG);
    let cue_seconds = natural / 2.0;
    let out = run(
        &[("max-speedup", "1.3")],
        UTF8,
        &[cue(LONG, 0.0, cue_seconds), cue("Next.", cue_seconds, 1.0)],
    );
    let first = &out.sentences[0];
    let spoken = first.duration.seconds_f64();
    assert!(
        (natural / 1.45..natural / 1.15).contains(&spoken),
        "about 1.3x faster: {spoken} s for {natural} s"
    );
    assert!(spoken > cue_seconds);
    assert_eq!(out.sentences[1].pts, first.end(), "next cue shifted");
}

#[test]
fn eos_waits_for_pending_speech() {
    init();
    let mut h = gst_check::Harness::new("neuraltts");
    h.play();
    h.set_src_caps_str(UTF8);
    let mut buffer = gst::Buffer::from_slice(LONG.as_bytes().to_vec());
    buffer.get_mut().unwrap().set_pts(secs(2.0));
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    assert!(h.push_event(gst::event::Eos::new()));
    let mut end = gst::ClockTime::ZERO;
    let mut speech = 0;
    while let Some(b) = h.try_pull() {
        end = b.pts().unwrap() + b.duration().unwrap();
        if !b.flags().contains(gst::BufferFlags::GAP) {
            speech += b.size();
        }
    }
    assert!(end > secs(4.0), "speech from 2 s: ends at {end}");
    assert!(speech > 0);
    let mut eos = false;
    while let Some(e) = h.try_pull_event() {
        eos |= e.type_() == gst::EventType::Eos;
    }
    assert!(eos, "EOS after the speech");
}

#[test]
fn buffer_without_pts_is_spoken_after_what_came_before() {
    let out = run(
        &[],
        UTF8,
        &[
            cue("One.", 1.0, 1.0),
            Cue {
                text: b"Two.",
                pts: None,
                duration: None,
            },
        ],
    );
    out.assert_contiguous_from_zero();
    assert_eq!(out.sentences[0].pts, secs(1.0));
    assert_eq!(out.sentences[1].pts, out.sentences[0].end());
}

fn timed(text: &str, pts: f64, duration: f64) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_slice(text.as_bytes().to_vec());
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(secs(pts));
        b.set_duration(secs(duration));
    }
    buffer
}

fn pull_all(h: &mut gst_check::Harness) -> Vec<gst::Buffer> {
    std::iter::from_fn(|| h.try_pull()).collect()
}

#[test]
fn upstream_gap_becomes_silence_up_to_its_end() {
    init();
    let mut h = gst_check::Harness::new("neuraltts");
    h.play();
    h.set_src_caps_str(UTF8);
    assert!(
        h.push_event(
            gst::event::Gap::builder(secs(0.0))
                .duration(secs(2.0))
                .build()
        )
    );
    let gaps = pull_all(&mut h);
    assert!(!gaps.is_empty());
    assert!(
        gaps.iter()
            .all(|b| b.flags().contains(gst::BufferFlags::GAP))
    );
    let last = gaps.last().unwrap();
    assert_eq!(last.pts().unwrap() + last.duration().unwrap(), secs(2.0));
    // Speech after the gap continues the timeline.
    assert_eq!(
        h.push(timed("After the gap.", 2.5, 2.0)),
        Ok(gst::FlowSuccess::Ok)
    );
    let after = pull_all(&mut h);
    assert_eq!(after[0].pts(), Some(secs(2.0)), "silence from the gap end");
    let speech = after
        .iter()
        .find(|b| !b.flags().contains(gst::BufferFlags::GAP))
        .unwrap();
    assert_eq!(speech.pts(), Some(secs(2.5)));
}

#[test]
fn flush_resets_the_position() {
    init();
    let mut h = gst_check::Harness::new("neuraltts");
    h.play();
    h.set_src_caps_str(UTF8);
    assert_eq!(
        h.push(timed("Before the seek.", 3.0, 2.0)),
        Ok(gst::FlowSuccess::Ok)
    );
    assert!(pull_all(&mut h).last().unwrap().pts().unwrap() >= secs(3.0));
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(secs(10.0));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    assert_eq!(
        h.push(timed("After the seek.", 11.0, 2.0)),
        Ok(gst::FlowSuccess::Ok)
    );
    let after = pull_all(&mut h);
    assert_eq!(
        after[0].pts(),
        Some(secs(10.0)),
        "from the new segment start"
    );
    assert_eq!(after[0].offset(), 0);
    assert!(after[0].flags().contains(gst::BufferFlags::DISCONT));
    let speech = after
        .iter()
        .find(|b| !b.flags().contains(gst::BufferFlags::GAP))
        .unwrap();
    assert_eq!(speech.pts(), Some(secs(11.0)));
}

#[test]
fn invalid_utf8_is_skipped_with_a_warning() {
    let out = run(
        &[],
        UTF8,
        &[
            Cue {
                text: b"bad \xff\xfe bytes",
                pts: Some(0.0),
                duration: Some(1.0),
            },
            cue("", 1.0, 1.0),
            cue("Still speaking.", 2.0, 2.0),
        ],
    );
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("UTF-8"), "{}", out.warnings[0]);
    assert_eq!(out.sentences.len(), 1);
    assert_eq!(out.sentences[0].text, "Still speaking.");
    assert_eq!(out.sentences[0].pts, secs(2.0));
    out.assert_contiguous_from_zero();
}

#[test]
fn pango_markup_is_spoken_like_plain_text() {
    let markup = run(
        &[],
        "text/x-raw,format=pango-markup",
        &[cue("<i>Hello</i> &amp; <b>goodbye</b>", 0.0, 4.0)],
    );
    let plain = run(&[], UTF8, &[cue("Hello & goodbye", 0.0, 4.0)]);
    assert_eq!(markup.sentences[0].text, plain.sentences[0].text);
    let speech = markup.speech();
    assert!(rms(&speech) > 500.0);
    assert_eq!(speech, plain.speech(), "identical audio with noise 0");
}

/// WebVTT cue tags that `subparse` passes through (here webvtt-py's `cue_tags.vtt` cue, with its
/// word timestamps) and a voice tag that reached us escaped in pango markup (as matroskademux
/// sends it) are not spoken: the same text and the same audio as the plain cue.
#[test]
fn webvtt_tags_are_not_spoken() {
    let plain = run(&[], UTF8, &[cue("Like a big-a pizza pie", 0.0, 6.0)]);
    let tagged = run(
        &[],
        UTF8,
        &[cue(
            "Like a <00:19.000>big-a <00:19.500>pizza <00:20.000>pie",
            0.0,
            6.0,
        )],
    );
    assert_eq!(tagged.sentences[0].text, plain.sentences[0].text);
    assert_eq!(
        tagged.speech(),
        plain.speech(),
        "identical audio with noise 0"
    );
    let voice = run(
        &[],
        "text/x-raw,format=pango-markup",
        &[cue("&lt;v Anchor&gt;Back to you.&lt;/v&gt;", 0.0, 4.0)],
    );
    let back = run(&[], UTF8, &[cue("Back to you.", 0.0, 4.0)]);
    assert_eq!(voice.sentences[0].text, "Back to you.");
    assert_eq!(voice.speech(), back.speech());
}

#[test]
fn f32_output_when_downstream_asks() {
    init();
    let mut h = gst_check::Harness::new("neuraltts");
    h.set_sink_caps_str("audio/x-raw,format=F32LE,rate=22050,channels=1,layout=interleaved");
    h.play();
    h.set_src_caps_str(UTF8);
    let mut buffer = gst::Buffer::from_slice(b"Floating point.".to_vec());
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let b = h.pull().unwrap();
    let map = b.map_readable().unwrap();
    let peak = support::f32le_peak(&map);
    assert!(peak > 0.05 && peak <= 1.0, "peak {peak}");
}

#[test]
fn latency_query_adds_ours_to_upstream() {
    init();
    let mut h = gst_check::Harness::new("neuraltts");
    h.set_upstream_latency(gst::ClockTime::from_mseconds(100));
    h.play();
    let src = h.element().unwrap().static_pad("src").unwrap();
    let mut q = gst::query::Latency::new();
    assert!(src.query(&mut q));
    let (_, min, max) = q.result();
    assert_eq!(
        min,
        gst::ClockTime::from_mseconds(500),
        "100 upstream + 400 default"
    );
    assert!(max.is_none_or(|max| max >= min));

    h.element().unwrap().set_property("latency", 1500u32);
    let mut q = gst::query::Latency::new();
    assert!(src.query(&mut q));
    assert_eq!(q.result().1, gst::ClockTime::from_mseconds(1600));
}

#[test]
fn late_cue_with_live_upstream_is_shifted_with_a_warning() {
    init();
    let (mut h, element, bus) = support::harness_with_bus("neuraltts");
    h.use_testclock();
    h.play();
    h.set_src_caps_str(UTF8);
    let mut q = gst::query::Latency::new();
    assert!(element.static_pad("src").unwrap().query(&mut q));
    assert!(q.result().0, "the Harness upstream is live");
    // Running time is 10 s: a cue for 1 s cannot be on time any more.
    h.set_time(gst::ClockTime::from_seconds(10)).unwrap();
    let mut buffer = gst::Buffer::from_slice(b"Too late.".to_vec());
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(secs(1.0));
        b.set_duration(secs(1.0));
    }
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let (sentences, warnings) = messages(&bus);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("latency"), "{}", warnings[0]);
    // Spoken at now - latency (400 ms ours, 0 upstream).
    assert_eq!(sentences[0].pts, secs(9.6));
    let first = h.pull().unwrap();
    assert!(first.flags().contains(gst::BufferFlags::DISCONT));
    element.set_bus(None);
}

/// A 35-word cue of five clauses.
const CLAUSES: &str = "When the morning train finally arrived at the station, the passengers \
    hurried along the platform, carrying their heavy bags and umbrellas, while the conductor \
    checked the tickets, and the rain kept falling on the roof.";

/// What left `neuraltts`, in order: a speech buffer (its PTS) or a sentence message (its text).
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Speech(gst::ClockTime),
    Sentence(String),
}

/// A live Harness (test clock at `now`) whose speech buffers and sentence messages are logged in
/// the order they leave the element; pushes `cue` and returns the log.
fn live_log(now: f64, cue: Cue, props: &[(&str, &str)]) -> (Vec<Out>, Vec<Sentence>, Vec<String>) {
    init();
    let (mut h, element, bus) = support::harness_with_bus("neuraltts");
    for (name, value) in props {
        element.set_property_from_str(name, value);
    }
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink_log = log.clone();
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure().filter(|s| s.name() == "neuraltts-sentence")
        {
            sink_log
                .lock()
                .unwrap()
                .push(Out::Sentence(s.get("text").unwrap()));
        }
        gst::BusSyncReply::Pass
    });
    let probe_log = log.clone();
    element
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer()
                && !buffer.flags().contains(gst::BufferFlags::GAP)
            {
                probe_log
                    .lock()
                    .unwrap()
                    .push(Out::Speech(buffer.pts().unwrap()));
            }
            gst::PadProbeReturn::Ok
        });
    h.use_testclock();
    h.play();
    h.set_src_caps_str(UTF8);
    h.set_time(secs(now)).unwrap();
    let mut buffer = gst::Buffer::from_slice(cue.text.to_vec());
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(cue.pts.map(secs));
        b.set_duration(cue.duration.map(secs));
    }
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let (sentences, warnings) = messages(&bus);
    element.set_bus(None);
    let log = log.lock().unwrap().clone();
    (log, sentences, warnings)
}

#[test]
fn long_live_cue_is_spoken_clause_by_clause_from_its_time() {
    // Running time 0, a 35-word cue at 0.1 s: 0.5 s for its synthesis (400 ms latency), less
    // than it takes before any cue was measured (some 400 ids at 2.5 ms).
    let (log, sentences, warnings) = live_log(0.0, cue(CLAUSES, 0.1, 12.0), &[]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(sentences.len(), 5, "one message per clause: {sentences:?}");
    assert!(sentences[0].text.starts_with("When the morning train"));
    assert_eq!(
        sentences[0].pts,
        secs(0.1),
        "the first clause at the cue's time"
    );
    for pair in sentences.windows(2) {
        assert_eq!(
            pair[1].pts,
            pair[0].end(),
            "each clause right after the one before"
        );
    }
    // The first clause's audio left before the last clause was synthesised (its message is
    // posted once it is).
    let first_speech = log
        .iter()
        .position(|o| matches!(o, Out::Speech(_)))
        .unwrap();
    let last_sentence = log
        .iter()
        .rposition(|o| matches!(o, Out::Sentence(_)))
        .unwrap();
    assert_eq!(log[first_speech], Out::Speech(secs(0.1)), "{log:?}");
    assert!(first_speech < last_sentence, "{log:?}");
    // Each clause's speech follows its message: the pushes interleave with the syntheses.
    let messages_before: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Out::Speech(_)))
        .map(|(i, _)| {
            log[..i]
                .iter()
                .filter(|o| matches!(o, Out::Sentence(_)))
                .count()
        })
        .collect();
    assert!(
        messages_before.contains(&1) && messages_before.contains(&5),
        "{log:?}"
    );
}

#[test]
fn late_live_cue_in_parts_warns_once_and_fits_faster() {
    // Already late (running time 10 s, cue at 2 s): spoken in parts from now - latency,
    // with one warning for the cue.
    let (_, shifted, warnings) = live_log(10.0, cue(CLAUSES, 2.0, 6.0), &[("overflow", "shift")]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(shifted.len(), 5);
    assert_eq!(shifted[0].pts, secs(9.6));
    // The same cue under fit: the clauses after the first are sped up to make up for it.
    let (_, fitted, _) = live_log(10.0, cue(CLAUSES, 2.0, 6.0), &[]);
    assert_eq!(fitted.len(), 5);
    assert_eq!(
        fitted[0].duration, shifted[0].duration,
        "the first clause at speed 1"
    );
    let length = |s: &[Sentence]| s.last().unwrap().end() - s[0].pts;
    assert!(
        length(&fitted) < length(&shifted),
        "{} fitted, {} shifted",
        length(&fitted),
        length(&shifted)
    );
}

fn srt() -> String {
    format!(
        "{}/../../pipelines/data/captions.srt",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs a pipeline to EOS; returns its sentence messages.
fn run_pipeline(description: &str) -> Vec<Sentence> {
    init();
    let pipeline = gst::parse::launch(description).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut sentences = Vec::new();
    let mut eos = false;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Element(e)
                if e.structure()
                    .is_some_and(|s| s.name() == "neuraltts-sentence") =>
            {
                let s = e.structure().unwrap();
                sentences.push(Sentence {
                    text: s.get("text").unwrap(),
                    pts: gst::ClockTime::from_nseconds(s.get("pts").unwrap()),
                    duration: gst::ClockTime::from_nseconds(s.get("duration").unwrap()),
                });
            }
            gst::MessageView::Eos(_) => {
                eos = true;
                break;
            }
            gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(eos, "pipeline reached EOS");
    sentences
}

/// ((codec, channels, rate, bits), data bytes) of a WAV file.
fn wav_format(path: &std::path::Path) -> ((u16, u16, u32, u16), usize) {
    let bytes = std::fs::read(path).expect("wav written");
    assert_eq!(&bytes[0..4], b"RIFF");
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut at = 12;
    let mut format = None;
    while at + 8 <= bytes.len() {
        let len = u32_at(at + 4) as usize;
        match &bytes[at..at + 4] {
            b"fmt " => {
                format = Some((
                    u16_at(at + 8),
                    u16_at(at + 10),
                    u32_at(at + 12),
                    u16_at(at + 22),
                ))
            }
            b"data" => return (format.expect("fmt before data"), len),
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

#[test]
fn srt_pipeline_places_speech_at_the_cues() {
    let wav = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("captions-{}.wav", std::process::id()));
    let sentences = run_pipeline(&format!(
        "filesrc location={} ! subparse ! neuraltts noise-scale=0 noise-w=0 ! audioconvert ! \
         wavenc ! filesink location={}",
        srt(),
        wav.display()
    ));
    let texts: Vec<_> = sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Good evening, and welcome.",
            "Tonight we look at trains & the people who build them.",
            "It is a long story.",
            "Let us begin at the station."
        ]
    );
    // The SRT's start times.
    let starts: Vec<_> = sentences.iter().map(|s| s.pts).collect();
    assert_eq!(starts, [secs(0.5), secs(4.0), secs(8.5), secs(12.0)]);
    // Each cue's speech fits its cue (fit).
    let ends = [3.0, 7.0, 10.5, 14.5];
    for (s, end) in sentences.iter().zip(ends) {
        assert!(s.end() <= secs(end), "{s:?} past {end} s");
    }
    // The WAV holds the silence too: 16-bit mono up to the end of the last cue (14.5 s), which
    // the last speech does not reach.
    let (format, data) = wav_format(&wav);
    assert_eq!(format, (1, 1, 22050, 16), "PCM, mono, 22050 Hz, 16 bits");
    let seconds = data as f64 / (2.0 * RATE as f64);
    assert!(sentences[3].end() < secs(14.5));
    assert!((seconds - 14.5).abs() < 0.01, "{seconds} s of audio");
}

#[test]
fn srt_pipeline_runs_through_audiomixer() {
    let sentences = run_pipeline(&format!(
        "filesrc location={} ! subparse ! neuraltts noise-scale=0 noise-w=0 ! audiomixer ! \
         audioconvert ! fakesink sync=false",
        srt()
    ));
    assert_eq!(sentences.len(), 4);
}

#[test]
fn srt_pipeline_muxes_into_mp4() {
    let mp4 = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("captions-{}.m4a", std::process::id()));
    let sentences = run_pipeline(&format!(
        "filesrc location={} ! subparse ! neuraltts ! audioconvert ! avenc_aac ! mp4mux ! \
         filesink location={}",
        srt(),
        mp4.display()
    ));
    assert_eq!(sentences.len(), 4);
    assert!(std::fs::metadata(&mp4).unwrap().len() > 10_000);
}

#[test]
fn missing_model_fails_the_state_change_with_an_error_naming_it() {
    init();
    let pipeline =
        gst::parse::launch("fakesrc ! neuraltts model=/nonexistent/voice.onnx ! fakesink").unwrap();
    let err = support::start_fails(&pipeline, gst::ClockTime::from_seconds(5));
    assert!(
        err.error().to_string().contains("/nonexistent/voice.onnx"),
        "{}",
        err.error()
    );
}
