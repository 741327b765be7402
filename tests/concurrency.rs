// SPDX-License-Identifier: MPL-2.0
//! Four pipelines in one process — two `faceexpression` video analyses and two `neuralttssrc`
//! voices — run at the same time for a minute (`sync=false`, `qos=false`, no TTS noise, default
//! `threads=0`: the elements share their models and the engine's thread budget). Every concurrent
//! result must equal the result of the same pipeline run alone: per-frame face tracks and labels,
//! and the exact audio samples. nextest's hard timeout catches a deadlock.
//!
//! And 8 `faceexpression` pipelines in one process stay within the thread budget: the threads
//! they add over the same 8 pipelines with `identity` in their place are the model sessions'
//! pools, a fixed number, not a number per element.

use std::time::{Duration, Instant};

use gst::prelude::*;

mod common;
use common::{plugin_dir, sample_video};

fn init() {
    gst::init().unwrap();
    for plugin in ["faceexpr", "neuraltts"] {
        let path = plugin_dir().join(format!("libgst{plugin}.so"));
        gst::Plugin::load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// What one pipeline produced: per-buffer summaries that must match run to run.
type Output = Vec<String>;

fn video_pipeline() -> String {
    format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
         ! faceexpression qos=false ! appsink name=sink sync=false",
        sample_video().display()
    )
}

fn voice_pipeline(text: &str) -> String {
    format!("neuralttssrc text=\"{text}\" noise-scale=0 noise-w=0 ! appsink name=sink sync=false")
}

/// Video: the frame's faces (track id, box, this frame's label); audio: a hash of the samples.
fn summary(buffer: &gst::BufferRef, video: bool) -> String {
    if video {
        let faces: Vec<String> = buffer
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .map(|m| {
                let label = m
                    .param("expression")
                    .and_then(|e| e.get::<String>("raw-label").ok());
                format!("{}:{:?}:{}", m.id(), m.rect(), label.unwrap_or_default())
            })
            .collect();
        format!("{:?} {}", buffer.pts(), faces.join(" "))
    } else {
        let map = buffer.map_readable().unwrap();
        let hash = map.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("{:?} {} {hash:x}", buffer.pts(), map.len())
    }
}

/// Starts `description`, returns a closure that waits for EOS and gives its output.
fn start(description: &str) -> impl FnOnce() -> Output + use<> {
    let video = description.contains("faceexpression");
    let pipeline = gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline starts");
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        while let Ok(sample) = sink.pull_sample() {
            out.push(summary(sample.buffer().unwrap(), video));
        }
        out
    });
    move || {
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(240),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("EOS within 4 minutes");
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{}: {:?}", e.error(), e.debug());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        collector.join().expect("collector")
    }
}

#[test]
fn four_pipelines_at_once_give_the_single_pipeline_results() {
    init();
    let descriptions = [
        video_pipeline(),
        voice_pipeline("Four pipelines share this process. Each must sound exactly the same."),
        video_pipeline(),
        voice_pipeline("A second voice speaks at the same time, with another text."),
    ];
    // Alone, one after the other.
    let expected: Vec<Output> = descriptions.iter().map(|d| start(d)()).collect();
    assert!(
        expected[0].len() == 472 && expected[1].len() >= 2,
        "baseline outputs"
    );
    assert!(
        expected[0].iter().filter(|s| s.contains(":[")).count() == 0,
        "sanity"
    );

    // Together, for a minute.
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let waits: Vec<_> = descriptions.iter().map(|d| start(d)).collect();
        for (i, wait) in waits.into_iter().enumerate() {
            assert_eq!(
                wait(),
                expected[i],
                "pipeline {i} differs when run alongside the others (round {rounds})"
            );
        }
        rounds += 1;
    }
    eprintln!("{rounds} concurrent rounds in {:?}", started.elapsed());
    assert!(rounds >= 1);
}

/// Threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// Runs 8 copies of `appsrc ! <element> ! fakesink` in one pipeline, 20 grey 320×240 frames
/// into each, and returns the most threads the process had while they ran (their streaming
/// threads live until the pipeline stops). An `appsrc` rather than a decoder: decoders start a
/// varying number of threads of their own.
fn threads_of_8(element: &str) -> usize {
    let caps = "video/x-raw,format=BGRx,width=320,height=240,framerate=25/1";
    let description: Vec<String> = (0..8)
        .map(|i| {
            format!("appsrc name=src{i} caps={caps} format=time ! {element} ! fakesink sync=false")
        })
        .collect();
    let pipeline = gst::parse::launch(&description.join("  "))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
    let sources: Vec<gst_app::AppSrc> = (0..8)
        .map(|i| {
            pipeline
                .by_name(&format!("src{i}"))
                .unwrap()
                .downcast::<gst_app::AppSrc>()
                .unwrap()
        })
        .collect();
    let mut peak = threads();
    for n in 0..20u64 {
        for src in &sources {
            let mut buffer = gst::Buffer::from_slice(vec![128u8; 320 * 240 * 4]);
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(40 * n));
            b.set_duration(gst::ClockTime::from_mseconds(40));
            src.push_buffer(buffer).expect("frame queued");
        }
        peak = peak.max(threads());
    }
    for src in &sources {
        src.end_of_stream().expect("EOS queued");
    }
    let bus = pipeline.bus().unwrap();
    loop {
        peak = peak.max(threads());
        match bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            None => continue,
            Some(msg) => {
                if let gst::MessageView::Error(e) = msg.view() {
                    panic!("{}: {:?}", e.error(), e.debug());
                }
                break;
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    peak
}

#[test]
fn eight_analyses_stay_within_the_thread_budget() {
    init();
    let identity = threads_of_8("identity");
    let analyses = threads_of_8("faceexpression");
    let added = analyses.saturating_sub(identity);
    let budget = neural_media::engine::budget();
    eprintln!(
        "8 pipelines: {identity} threads with identity, {analyses} with faceexpression \
         ({added} added; budget {budget})"
    );
    // Two shared models, each with one wide session whose pool has budget − 1 threads (the
    // narrow sessions have none), and one thread of ONNX Runtime's own: 3 on 2 cores. Private
    // pools per element (`threads=2`, as every element had before the engine) added 20 here.
    assert!(
        added <= 2 * budget,
        "faceexpression added {added} threads over identity (budget {budget})"
    );
}
