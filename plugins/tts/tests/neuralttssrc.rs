// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuralttssrc` on the real voice and real espeak-ng: caps, contiguous timestamps, EOS,
//! non-silent speech whose length follows the text, per-sentence messages, live push-text, and
//! clear errors for a bad model.

use gst::prelude::*;
use neural_media_test_support::{self as support, rms, s16le_samples};

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

/// Deterministic output: no generator or duration noise.
const QUIET: &str = "noise-scale=0 noise-w=0";

struct Spoken {
    caps: gst::Caps,
    buffers: Vec<gst::Buffer>,
}

impl Spoken {
    fn samples(&self) -> Vec<i16> {
        self.buffers.iter().flat_map(s16le_samples).collect()
    }

    fn seconds(&self) -> f64 {
        self.samples().len() as f64 / 22050.0
    }
}

/// Runs the source in a Harness until EOS.
fn speak(props: &[(&str, &str)]) -> Spoken {
    init();
    let mut h = gst_check::Harness::new("neuralttssrc");
    let element = h.element().unwrap();
    for (name, value) in props {
        element.set_property_from_str(name, value);
    }
    element.set_property("noise-scale", 0.0f64);
    element.set_property("noise-w", 0.0f64);
    h.play();
    let mut buffers = Vec::new();
    while let Some(buffer) = h.pull_until_eos().expect("stream ends with EOS") {
        buffers.push(buffer);
    }
    let caps = h
        .sinkpad()
        .and_then(|p| p.current_caps())
        .expect("negotiated caps");
    Spoken { caps, buffers }
}

#[test]
fn speaks_text_with_contiguous_timestamps_and_s16_caps() {
    let spoken = speak(&[(
        "text",
        "Hello world. This is a neural voice inside GStreamer.",
    )]);
    let s = spoken.caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("format").unwrap(), "S16LE");
    assert_eq!(s.get::<i32>("rate").unwrap(), 22050);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);

    assert!(
        spoken.buffers.len() >= 2,
        "one buffer per sentence at least"
    );
    let mut expected_pts = gst::ClockTime::ZERO;
    let mut expected_offset = 0;
    for b in &spoken.buffers {
        assert_eq!(b.pts(), Some(expected_pts), "contiguous PTS");
        assert_eq!(b.offset(), expected_offset, "contiguous offsets");
        let samples = b.size() as u64 / 2;
        assert_eq!(b.offset_end(), expected_offset + samples);
        expected_offset += samples;
        expected_pts = gst::ClockTime::SECOND
            .mul_div_floor(expected_offset, 22050)
            .unwrap();
        assert_eq!(
            b.pts().unwrap() + b.duration().unwrap(),
            expected_pts,
            "duration matches samples"
        );
    }
    let samples = spoken.samples();
    assert!(
        rms(&samples) > 500.0,
        "speech is not silent (rms {})",
        rms(&samples)
    );
    assert!(
        (1.5..10.0).contains(&spoken.seconds()),
        "plausible length: {} s",
        spoken.seconds()
    );
}

#[test]
fn duration_grows_with_text_and_output_is_deterministic() {
    let short = speak(&[("text", "Good morning.")]);
    let long = speak(&[(
        "text",
        "Good morning. The weather today is sunny, with a light breeze from the west.",
    )]);
    assert!(
        long.seconds() > short.seconds() * 2.0,
        "{} vs {}",
        long.seconds(),
        short.seconds()
    );
    let again = speak(&[("text", "Good morning.")]);
    assert_eq!(
        short.samples(),
        again.samples(),
        "noise 0 gives bit-identical audio"
    );
}

#[test]
fn f32_output_is_negotiated_when_asked() {
    init();
    let mut h = gst_check::Harness::new("neuralttssrc");
    h.element()
        .unwrap()
        .set_property("text", "Testing float output.");
    h.set_sink_caps_str("audio/x-raw,format=F32LE,rate=22050,channels=1,layout=interleaved");
    h.play();
    let buffer = h.pull().expect("a buffer");
    let caps = h.sinkpad().and_then(|p| p.current_caps()).unwrap();
    assert_eq!(
        caps.structure(0).unwrap().get::<&str>("format").unwrap(),
        "F32LE"
    );
    let map = buffer.map_readable().unwrap();
    let peak = support::f32le_peak(&map);
    assert!(peak > 0.05 && peak <= 1.0, "peak {peak}");
}

#[test]
fn empty_text_ends_cleanly_without_audio() {
    let spoken = speak(&[("text", "   ")]);
    assert!(spoken.buffers.is_empty());
}

#[test]
fn text_file_is_spoken_and_sentence_messages_carry_timings() {
    init();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("tts-{}.txt", std::process::id()));
    std::fs::write(
        &file,
        "First sentence here. Second one follows! And a third?",
    )
    .unwrap();
    let pipeline = gst::parse::launch(&format!(
        "neuralttssrc location={} {QUIET} sentence-silence=0.1 ! fakesink sync=false",
        file.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut sentences = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Element(e)
                if e.structure()
                    .is_some_and(|s| s.name() == "neuraltts-sentence") =>
            {
                let s = e.structure().unwrap();
                sentences.push((
                    s.get::<String>("text").unwrap(),
                    s.get::<u64>("pts").unwrap(),
                    s.get::<u64>("duration").unwrap(),
                ));
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let texts: Vec<&str> = sentences.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        texts,
        [
            "First sentence here.",
            "Second one follows!",
            "And a third?"
        ]
    );
    assert_eq!(sentences[0].1, 0);
    for pair in sentences.windows(2) {
        assert_eq!(
            pair[0].1 + pair[0].2,
            pair[1].1,
            "each sentence starts where the previous ended"
        );
    }
    assert!(
        sentences.iter().all(|s| s.2 > 500_000_000),
        "each sentence lasts over 0.5 s"
    );
}

#[test]
fn missing_model_fails_the_state_change_with_an_error_naming_it() {
    init();
    let pipeline =
        support::pipeline("neuralttssrc name=src model=/nonexistent/voice.onnx text=hi ! fakesink");
    let err = support::start_fails(&pipeline, gst::ClockTime::from_seconds(5));
    assert!(
        err.error().to_string().contains("/nonexistent/voice.onnx"),
        "{}",
        err.error()
    );
    // One error, ours: not also basesrc's "failed to post a proper error message".
    let bus = pipeline.bus().unwrap();
    if let Some(second) = bus.pop_filtered(&[gst::MessageType::Error]) {
        panic!("a second error: {second:?}");
    }

    // The same element then works with a good model.
    let src = pipeline.by_name("src").unwrap();
    src.set_property("model", None::<String>);
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS");
    assert_eq!(msg.type_(), gst::MessageType::Eos);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn live_source_sends_silence_then_speaks_pushed_text() {
    init();
    let pipeline = support::pipeline(&format!(
        "neuralttssrc name=src is-live=true {QUIET} ! appsink name=sink sync=true"
    ));
    let sink = support::app_sink(&pipeline, "sink");
    let src = pipeline.by_name("src").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let pull = |sink: &gst_app::AppSink| {
        sink.try_pull_sample(gst::ClockTime::from_seconds(30))
            .expect("sample")
            .buffer_owned()
            .unwrap()
    };
    // Idle: gap-flagged silence.
    for _ in 0..3 {
        let b = pull(&sink);
        assert!(b.flags().contains(gst::BufferFlags::GAP));
    }
    let pushed: bool = src.emit_by_name("push-text", &[&"Now I am speaking."]);
    assert!(pushed);
    let mut speech = None;
    for _ in 0..200 {
        let b = pull(&sink);
        if !b.flags().contains(gst::BufferFlags::GAP) {
            speech = Some(b);
            break;
        }
    }
    let speech = speech.expect("speech arrives after push-text");
    let samples = s16le_samples(&speech);
    assert!(rms(&samples) > 500.0);
    // Still alive afterwards: more silence, no EOS.
    let next = pull(&sink);
    assert!(next.pts().unwrap() >= speech.pts().unwrap() + speech.duration().unwrap());
    let mut q = gst::query::Latency::new();
    assert!(pipeline.query(&mut q));
    assert!(q.result().0, "live");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn clause_chunking_sends_each_clause_as_soon_as_it_is_ready() {
    let text = "Yes, I will gladly take the early train tomorrow morning, if it is on time.";
    let sentence = speak(&[("text", text)]);
    let clauses = speak(&[("text", text), ("chunking", "clause")]);
    assert_eq!(sentence.buffers.len(), 1, "one run for the sentence");
    assert_eq!(clauses.buffers.len(), 3, "one run per clause");
    // The first clause ("Yes,") is a small part of the sentence: it can play much sooner.
    let first = clauses.buffers[0].duration().unwrap();
    assert!(
        first * 4 < sentence.buffers[0].duration().unwrap(),
        "first clause lasts {first}"
    );
    let total: gst::ClockTime = clauses.buffers.iter().map(|b| b.duration().unwrap()).sum();
    let ratio = total.nseconds() as f64 / sentence.buffers[0].duration().unwrap().nseconds() as f64;
    assert!(
        (0.7..1.3).contains(&ratio),
        "same speech, cut differently ({ratio})"
    );
}

#[test]
fn live_source_runs_in_real_time_even_without_a_syncing_sink() {
    init();
    let pipeline = support::pipeline("neuralttssrc is-live=true ! appsink name=sink sync=false");
    let sink = support::app_sink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    let started = std::time::Instant::now();
    let mut last_end = gst::ClockTime::ZERO;
    while started.elapsed() < std::time::Duration::from_millis(1500) {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            let b = sample.buffer().unwrap();
            last_end = b.pts().unwrap() + b.duration().unwrap();
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // Paced by the clock: about 1.5 s of silence, not as much as the CPU can make.
    assert!(last_end > gst::ClockTime::from_mseconds(1000), "{last_end}");
    assert!(last_end < gst::ClockTime::from_mseconds(2000), "{last_end}");
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

#[test]
fn a_megabyte_of_text_without_punctuation_streams_with_bounded_memory() {
    init();
    let words = [
        "alpha", "river", "stone", "garden", "yellow", "music", "window", "travel",
    ];
    let mut text = String::with_capacity(1_000_100);
    for word in words.iter().cycle() {
        if text.len() >= 1_000_000 {
            break;
        }
        text.push_str(word);
        text.push(' ');
    }
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mb-{}.txt", std::process::id()));
    std::fs::write(&file, &text).unwrap();

    let mut h = gst_check::Harness::new("neuralttssrc");
    h.element()
        .unwrap()
        .set_property("location", file.to_str().unwrap());
    h.play();
    // Ten chunks: RSS peaks near 1.1 GiB here, almost all of it ONNX Runtime's CPU arena, which
    // grows in steps while it meets new input lengths (bounded, since chunks are). Turning the
    // arena off keeps RSS near 250-600 MiB but makes every run ~1.7x slower, so it stays on.
    let mut longest = gst::ClockTime::ZERO;
    let mut peak_mib = 0;
    for _ in 0..10 {
        longest = longest.max(h.pull().expect("chunk").duration().unwrap());
        peak_mib = peak_mib.max(rss_kib() / 1024);
    }
    // Text without punctuation is cut at word boundaries: each model run stays short…
    assert!(
        longest < gst::ClockTime::from_seconds(60),
        "longest chunk {longest}"
    );
    // …and memory does not follow the text still to speak (all of it would be hours of audio).
    assert!(peak_mib < 1536, "RSS reached {peak_mib} MiB in ten chunks");
}

#[test]
fn normalize_policies() {
    let text = "A quiet start. THEN A LOUD ONE!";
    let peak_of = |b: &gst::Buffer| {
        let map = b.map_readable().unwrap();
        map.chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    // peak: every sentence reaches full scale, as piper does.
    let peak = speak(&[("text", text), ("normalize", "peak")]);
    assert!(
        peak.buffers.iter().all(|b| peak_of(b) >= 32000),
        "peak-normalised"
    );
    // gain (default): one factor for all sentences, so their peaks differ; off: quieter still.
    let gain = speak(&[("text", text)]);
    let off = speak(&[("text", text), ("normalize", "off")]);
    assert_eq!(gain.buffers.len(), off.buffers.len());
    for (g, o) in gain.buffers.iter().zip(&off.buffers) {
        assert!(peak_of(g) > peak_of(o), "the fixed gain raises the level");
    }
    assert_ne!(peak_of(&gain.buffers[0]), peak_of(&gain.buffers[1]));
}
