// SPDX-License-Identifier: MPL-2.0
//! `faceexpression` on the shared inference engine: while a model run is in progress (held open
//! by the engine's test hook, so that the order of events is certain), property reads and queries
//! return, and a flush or a stop ends the run instead of waiting for it. Each nextest test is its
//! own process: the engine's counters start at 0.

use gst::prelude::*;
use neural_media::engine::{self, testing};
use neural_media_test_support as support;

fn init() {
    support::init_once(gstfaceexpr::plugin_register_static);
}

const CAPS: &str = "video/x-raw,format=BGRx,width=320,height=240,framerate=25/1";

/// A grey 320x240 BGRx frame at `n` × 40 ms.
fn frame(n: u64) -> gst::Buffer {
    let ms = gst::ClockTime::from_mseconds;
    support::timed(vec![128u8; 320 * 240 * 4], ms(40 * n), ms(40))
}

/// With `pipelined`, the frame's run is on the worker: the streaming thread is free, and a
/// latency query (which adds a frame), a property read and a flush all come while the run is held.
#[test]
fn pipelined_queries_and_a_flush_while_a_run_is_held() {
    init();
    let mut h = gst_check::Harness::new("faceexpression");
    let element = h.element().expect("element");
    assert_eq!(
        element.name(),
        "faceexpression0",
        "default name after the factory"
    );
    element.set_property("pipelined", true);
    h.play();
    h.set_src_caps_str(CAPS);
    let hold = testing::hold_runs();
    assert_eq!(h.push(frame(0)), Ok(gst::FlowSuccess::Ok));
    hold.wait_held(1);

    assert_eq!(
        element
            .property::<Option<String>>("active-execution-provider")
            .as_deref(),
        Some("cpu")
    );
    let mut latency = gst::query::Latency::new();
    assert!(element.static_pad("src").expect("src").query(&mut latency));
    let (_, min, _) = latency.result();
    assert_eq!(
        min,
        gst::ClockTime::from_mseconds(40),
        "one frame of latency"
    );

    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert_eq!(hold.held(), 0, "the held run ended with the flush");
    assert_eq!(engine::stats().cancelled, 1);
    drop(hold);

    // The element plays on after the flush.
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    assert_eq!(h.push(frame(1)), Ok(gst::FlowSuccess::Ok));
    assert!(h.push_event(gst::event::Eos::new()));
    let out = h.pull().expect("the frame after the flush");
    assert_eq!(out.pts(), Some(gst::ClockTime::from_mseconds(40)));
}

/// Without `pipelined` the streaming thread is inside the run; going to NULL from another thread
/// cancels the run (PAUSED→READY) and returns while the hold is still in place.
#[test]
fn stopping_while_the_streaming_thread_is_in_a_run_returns() {
    init();
    let pipeline = support::pipeline(&format!(
        "appsrc name=src caps={CAPS} format=time ! faceexpression name=fe ! fakesink"
    ));
    let src = support::app_src(&pipeline, "src");
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline starts");
    let hold = testing::hold_runs();
    src.push_buffer(frame(0)).expect("frame queued");
    hold.wait_held(1);
    let fe = pipeline.by_name("fe").expect("fe");
    support::stop_while_held(&pipeline, &fe, &hold);
    assert!(
        fe.property::<Option<String>>("active-execution-provider")
            .is_none()
    );
}
