// SPDX-License-Identifier: GPL-3.0-or-later
//! SSML input on the real voice and real espeak-ng (`noise-scale=0 noise-w=0`): `neuraltts` on
//! `application/ssml+xml` (a `break` adds its length as silence between the words around it, a
//! `mark` lands between its words at the cue's time after `fit`, slow prosody is longer,
//! malformed SSML warns and is still spoken, SSML tags are never stripped as WebVTT's are), and
//! `neuralttssrc text-format=ssml` (`text`, `location`, `push-text`).

use gst::prelude::*;
use neural_media_test_support::{self as support, rms, s16le_samples as samples_of};

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

const RATE: f64 = 22050.0;
const SSML: &str = "application/ssml+xml";

fn secs(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s * 1e9).round() as u64)
}

#[derive(Debug)]
struct Timed {
    text: String,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
}

impl Timed {
    fn end(&self) -> gst::ClockTime {
        self.pts + self.duration
    }
}

#[derive(Default)]
struct Output {
    buffers: Vec<gst::Buffer>,
    sentences: Vec<Timed>,
    words: Vec<Timed>,
    marks: Vec<(String, gst::ClockTime)>,
    warnings: Vec<String>,
}

impl Output {
    fn samples(&self) -> Vec<i16> {
        self.buffers.iter().flat_map(samples_of).collect()
    }

    /// Samples in `[from, to)`.
    fn window(&self, from: gst::ClockTime, to: gst::ClockTime) -> Vec<i16> {
        let all = self.samples();
        let at = |t: gst::ClockTime| ((t.seconds_f64() * RATE).round() as usize).min(all.len());
        all[at(from)..at(to)].to_vec()
    }

    /// From the first sentence's start to the last one's end, in seconds.
    fn spoken_seconds(&self) -> f64 {
        let (first, last) = (&self.sentences[0], self.sentences.last().unwrap());
        (last.end() - first.pts).seconds_f64()
    }
}

fn collect_messages(bus: &gst::Bus, out: &mut Output) {
    while let Some(msg) = bus.pop() {
        record(&msg, out);
    }
}

fn record(msg: &gst::Message, out: &mut Output) {
    {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                let pts = || gst::ClockTime::from_nseconds(s.get("pts").unwrap());
                match s.name().as_str() {
                    "neuraltts-sentence" => out.sentences.push(Timed {
                        text: s.get("text").unwrap(),
                        pts: pts(),
                        duration: gst::ClockTime::from_nseconds(s.get("duration").unwrap()),
                    }),
                    "neuraltts-word" => out.words.push(Timed {
                        text: s.get("text").unwrap(),
                        pts: pts(),
                        duration: gst::ClockTime::from_nseconds(s.get("duration").unwrap()),
                    }),
                    "neuraltts-mark" => out.marks.push((s.get("name").unwrap(), pts())),
                    _ => {}
                }
            }
            gst::MessageView::Warning(w) => out.warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
}

/// `neuraltts` in a Harness on `caps`: each document a cue at (pts, duration) seconds.
fn run(props: &[(&str, &str)], caps: &str, cues: &[(&str, f64, f64)]) -> Output {
    init();
    let (mut h, element, bus) = support::harness_with_bus("neuraltts");
    element.set_property("noise-scale", 0.0f64);
    element.set_property("noise-w", 0.0f64);
    element.set_property("sentence-silence", 0.0f64);
    // `neuraltts-mark` is posted when `speech-marks` has `ssml` (not in the default).
    element.set_property_from_str("speech-marks", "sentence+word+ssml");
    for (name, value) in props {
        element.set_property_from_str(name, value);
    }
    h.play();
    h.set_src_caps_str(caps);
    for &(text, pts, duration) in cues {
        let buffer = support::timed(text.as_bytes().to_vec(), secs(pts), secs(duration));
        assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let mut out = Output::default();
    while let Some(b) = h.try_pull() {
        out.buffers.push(b);
    }
    collect_messages(&bus, &mut out);
    element.set_bus(None);
    out
}

/// One SSML cue at 1 s with room to spare, shifted if need be.
fn speak(document: &str) -> Output {
    run(&[("overflow", "shift")], SSML, &[(document, 1.0, 6.0)])
}

fn assert_silent(out: &Output, from: gst::ClockTime, to: gst::ClockTime) {
    let window = out.window(from, to);
    assert!(!window.is_empty());
    assert!(
        window.iter().all(|&s| s == 0),
        "silent from {from} to {to}: peak {}",
        window.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0)
    );
}

fn assert_voiced(out: &Output, from: gst::ClockTime, to: gst::ClockTime) {
    let level = rms(&out.window(from, to));
    assert!(level > 300.0, "speech from {from} to {to}: rms {level:.0}");
}

#[test]
fn break_adds_its_length_as_silence_between_the_words_around_it() {
    let plain = speak("<speak>The first sentence. Then the second one.</speak>");
    let broken =
        speak("<speak>The first sentence. <break time=\"1500ms\"/>Then the second one.</speak>");
    assert!(plain.warnings.is_empty() && broken.warnings.is_empty());
    let delta = broken.spoken_seconds() - plain.spoken_seconds();
    eprintln!("break between sentences: +{delta:.4} s");
    assert!((delta - 1.5).abs() <= 0.02, "+{delta} s");
    // The silence sits between "sentence." and "Then".
    let (first, second) = (&broken.sentences[0], &broken.sentences[1]);
    assert_eq!(first.text, "The first sentence.");
    assert!(second.pts - first.end() >= secs(1.5));
    assert_silent(&broken, first.end(), second.pts);
    assert_voiced(&broken, first.end() - secs(0.25), first.end());
    assert_voiced(&broken, second.pts, second.pts + secs(0.25));

    // Inside a sentence (the voice has durations): one run, the same audio as without the
    // break with 1.5 s of silence inserted between "wait" and "while".
    let text = "Please wait while we connect you.";
    let plain = speak(&format!("<speak>{text}</speak>"));
    let broken = speak("<speak>Please wait <break time=\"1500ms\"/>while we connect you.</speak>");
    let delta = broken.spoken_seconds() - plain.spoken_seconds();
    eprintln!("break inside a sentence: +{delta:.4} s");
    assert!((delta - 1.5).abs() <= 0.02, "+{delta} s");
    assert_eq!(broken.sentences.len(), 1);
    assert_eq!(broken.sentences[0].text, text);
    let (a, b) = (plain.samples(), broken.samples());
    let n = (1.5 * RATE) as usize;
    let start = b.iter().position(|&s| s != 0).unwrap();
    let cut = (start..b.len() - n)
        .find(|&i| b[i..i + n].iter().all(|&s| s == 0))
        .expect("1.5 s of silence");
    assert_eq!(&b[..cut], &a[..cut]);
    let rest = (a.len() - cut).min(b.len() - cut - n);
    assert!(rest as f64 > 0.5 * RATE);
    assert_eq!(&b[cut + n..][..rest], &a[cut..][..rest]);
    // The words of the same text, as plain text.
    let words = run(
        &[("overflow", "shift")],
        "text/x-raw,format=utf8",
        &[(text, 1.0, 6.0)],
    )
    .words;
    let (wait, while_) = (&words[1], &words[2]);
    assert_eq!(
        (wait.text.as_str(), while_.text.as_str()),
        ("wait", "while")
    );
    let at = broken.buffers[0].pts().unwrap() + secs(cut as f64 / RATE);
    eprintln!(
        "silence at {at}: \"wait\" ends {}, \"while\" starts {}",
        wait.end(),
        while_.pts
    );
    assert!(wait.end() <= at + secs(0.003) && at <= while_.pts + secs(0.003));
    assert_voiced(&broken, at - secs(0.2), at);
    assert_voiced(&broken, at + secs(1.5), at + secs(1.7));
}

#[test]
fn mark_lands_between_its_words_at_the_cue_time_after_fit() {
    let document = "<speak>Good morning <mark name=\"x\"/>everybody, and welcome.</speak>";
    let natural = speak(document);
    assert_eq!(natural.marks.len(), 1);
    let (name, at) = &natural.marks[0];
    assert_eq!(name, "x");
    // One run, as without the mark; the mark between the words of the same text.
    assert_eq!(natural.sentences.len(), 1);
    let plain = speak("<speak>Good morning everybody, and welcome.</speak>");
    assert_eq!(natural.samples(), plain.samples());
    let words = run(
        &[("overflow", "shift")],
        "text/x-raw,format=utf8",
        &[("Good morning everybody, and welcome.", 1.0, 6.0)],
    )
    .words;
    let (morning, everybody) = (&words[1], &words[2]);
    assert_eq!(
        (morning.text.as_str(), everybody.text.as_str()),
        ("morning", "everybody")
    );
    eprintln!(
        "mark at {at}: \"morning\" ends {}, \"everybody\" starts {}",
        morning.end(),
        everybody.pts
    );
    assert!(morning.end() <= *at + secs(0.003) && *at <= everybody.pts + secs(0.003));
    // Speech on both sides, a pause at the mark itself.
    assert_voiced(&natural, *at - secs(0.3), *at);
    assert_voiced(&natural, *at, *at + secs(0.3));
    let around = rms(&natural.window(*at - secs(0.005), *at + secs(0.005)));
    assert!(around < 300.0, "rms {around:.0} at the mark");
    // Too long for its cue: spoken faster, the mark still between the same words, in the
    // cue's time base.
    let fitted = run(&[("overflow", "fit")], SSML, &[(document, 2.0, 1.5)]);
    let (_, at) = &fitted.marks[0];
    assert_eq!(fitted.sentences[0].pts, secs(2.0));
    assert!(*at - secs(2.0) < natural.marks[0].1 - secs(1.0), "sped up");
    // Clipped before the mark: no message.
    let clipped = run(&[("overflow", "clip")], SSML, &[(document, 0.0, 0.3)]);
    assert!(clipped.marks.is_empty(), "{:?}", clipped.marks);
}

#[test]
fn slow_prosody_is_longer_and_loud_is_louder() {
    let text = "The weather is nice today.";
    let plain = speak(&format!("<speak>{text}</speak>"));
    let slow = speak(&format!(
        "<speak><prosody rate=\"slow\">{text}</prosody></speak>"
    ));
    let soft = speak(&format!(
        "<speak><prosody volume=\"-6dB\">{text}</prosody></speak>"
    ));
    eprintln!(
        "slow: {:.3} s for {:.3} s",
        slow.spoken_seconds(),
        plain.spoken_seconds()
    );
    assert!(slow.spoken_seconds() > 1.15 * plain.spoken_seconds());
    let ratio = rms(&soft.samples()) / rms(&plain.samples());
    assert!((ratio - 0.5).abs() < 0.02, "-6 dB: {ratio:.3}");
}

#[test]
fn malformed_ssml_warns_and_is_still_spoken() {
    let out = run(
        &[],
        SSML,
        &[
            ("<speak>Hello <break time=\"1s\"> there, friend", 0.0, 3.0),
            (
                "<speak><prosody pitch=\"high\">One.</prosody></speak>",
                3.0,
                2.0,
            ),
            (
                "<speak><prosody pitch=\"low\">Two.</prosody></speak>",
                5.0,
                2.0,
            ),
        ],
    );
    let malformed: Vec<_> = out
        .warnings
        .iter()
        .filter(|w| w.contains("malformed SSML"))
        .collect();
    assert_eq!(malformed.len(), 1, "{:?}", out.warnings);
    let pitch = out.warnings.iter().filter(|w| w.contains("pitch")).count();
    assert_eq!(pitch, 1, "once: {:?}", out.warnings);
    assert_eq!(out.sentences[0].text, "Hello there, friend");
    assert_voiced(&out, secs(0.0), out.sentences[0].end());
    assert_eq!(out.sentences.len(), 3);
}

#[test]
fn ssml_tags_are_never_stripped_and_text_caps_still_work() {
    // <s>, <sub> and <b> are also WebVTT/pango tags: in SSML they mean what SSML says.
    let out =
        speak("<speak><s>Hello</s><s><sub alias=\"World Wide Web\">WWW</sub> here</s></speak>");
    let texts: Vec<_> = out.sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["Hello", "World Wide Web here"]);
    let text = run(
        &[],
        "text/x-raw,format=utf8",
        &[("<s>Hello</s> <b>there</b>", 0.0, 3.0)],
    );
    assert_eq!(text.sentences[0].text, "Hello there");
    // The sink pad takes both.
    init();
    let element = gst::ElementFactory::make("neuraltts").build().unwrap();
    let caps = element.static_pad("sink").unwrap().query_caps(None);
    assert!(caps.can_intersect(&gst::Caps::new_empty_simple(SSML)));
    assert!(
        caps.can_intersect(
            &gst::Caps::builder("text/x-raw")
                .field("format", "utf8")
                .build()
        )
    );
}

// --- neuralttssrc --------------------------------------------------------------------------

fn src_output(pipeline: &gst::Pipeline) -> Output {
    let sink = support::app_sink(pipeline, "sink");
    let mut out = Output::default();
    pipeline.set_state(gst::State::Playing).unwrap();
    // appsink holds EOS back until its buffers are pulled.
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(60)) {
        out.buffers.push(sample.buffer_owned().unwrap());
    }
    assert!(sink.is_eos(), "the stream ends");
    collect_messages(&pipeline.bus().unwrap(), &mut out);
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn src_speaks_ssml_from_text_and_file() {
    init();
    let dir = support::tmp_dir(env!("CARGO_TARGET_TMPDIR"), "ssml-src");
    let file = dir.join("doc.ssml");
    std::fs::write(
        &file,
        "<?xml version=\"1.0\"?><speak><p>From the file.</p><lang xml:lang=\"fr\">Oui.</lang></speak>",
    )
    .unwrap();
    let pipeline = support::pipeline(&format!(
        "neuralttssrc text-format=ssml speech-marks=sentence+word+ssml noise-scale=0 noise-w=0 sentence-silence=0 \
         location={} ! appsink name=sink sync=false",
        file.display()
    ));
    let src = pipeline.by_name("neuralttssrc0").unwrap();
    src.set_property(
        "text",
        "<speak>One. <break time=\"500ms\"/><mark name=\"two\"/>Two <mark name=\"three\"/>\
         three.</speak>",
    );
    let out = src_output(&pipeline);
    let texts: Vec<_> = out.sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["One.", "Two three.", "From the file.", "Oui."]);
    // The break is a buffer of silence between "One." and "Two three.", the mark where "Two"
    // starts.
    let silence = &out.buffers[1];
    assert_eq!(silence.pts(), Some(out.sentences[0].end()));
    assert_eq!(silence.duration(), Some(secs(0.5)));
    assert!(samples_of(silence).iter().all(|&s| s == 0));
    // A mark inside a sentence (the voice has durations): in its buffer, between its words.
    let second = &out.sentences[1];
    assert_eq!(out.marks.len(), 2);
    assert_eq!(out.marks[0], ("two".to_owned(), second.pts));
    assert_eq!(out.marks[1].0, "three");
    assert!(out.marks[1].1 > second.pts + secs(0.1) && out.marks[1].1 < second.end() - secs(0.1));
    assert_eq!(out.sentences[1].pts, out.sentences[0].end() + secs(0.5));
    assert!(
        out.warnings.iter().any(|w| w.contains("<lang>")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn src_push_text_is_ssml_too() {
    init();
    let pipeline = support::pipeline(
        "neuralttssrc name=src is-live=true text-format=ssml speech-marks=sentence+word+ssml noise-scale=0 noise-w=0 ! \
         appsink name=sink sync=false",
    );
    let src = pipeline.by_name("src").unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let pushed: bool = src.emit_by_name(
        "push-text",
        &[&"<speak><sub alias=\"Pushed\">P</sub> text. <mark name=\"done\"/></speak>"],
    );
    assert!(pushed);
    let mut out = Output::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while out.marks.is_empty() && std::time::Instant::now() < deadline {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            record(&msg, &mut out);
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(out.sentences[0].text, "Pushed text.");
    assert_eq!(out.marks.len(), 1);
    assert!(out.marks[0].1 >= out.sentences[0].end());
}
