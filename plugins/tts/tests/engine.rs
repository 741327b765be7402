// SPDX-License-Identifier: GPL-3.0-or-later
//! `neuraltts` and `neuralttssrc` on the shared inference engine: a flush or a stop during a
//! synthesis cancels its model run (held open by the engine's test hook, so the order of events is
//! certain), queries and property reads do not wait for the run, and the element plays on.
//! Each nextest test is its own process: the engine's counters start at 0.

use gst::prelude::*;
use neural_media::engine::{self, testing};
use neural_media_test_support as support;

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

const LONG: &str = "This cue is long enough that its synthesis takes a good while, with many \
                    words and clauses to turn into speech, so that the flush surely comes \
                    while the voice is still at work on it.";

fn cue(text: &str, pts_ms: u64, duration_ms: u64) -> gst::Buffer {
    let ms = gst::ClockTime::from_mseconds;
    support::timed(text.as_bytes().to_vec(), ms(pts_ms), ms(duration_ms))
}

#[test]
fn a_flush_during_a_long_synthesis_cancels_it_and_the_next_cue_plays() {
    init();
    let mut h = gst_check::Harness::new("neuraltts");
    let element = h.element().expect("element");
    assert_eq!(
        element.name(),
        "neuraltts0",
        "default name after the factory"
    );
    h.play();
    h.set_src_caps_str("text/x-raw,format=utf8");
    let sinkpad = element.static_pad("sink").expect("sink pad");
    let hold = testing::hold_runs();
    let pusher = std::thread::spawn(move || {
        let result = h.push(cue(LONG, 0, 20_000));
        (result, h)
    });
    hold.wait_held(1);
    assert_eq!(
        element
            .property::<Option<String>>("active-execution-provider")
            .as_deref(),
        Some("cpu")
    );
    assert!(sinkpad.send_event(gst::event::FlushStart::new()));
    let (result, mut h) = pusher.join().expect("the chain returns");
    assert_eq!(result, Err(gst::FlowError::Flushing));
    assert_eq!(engine::stats().cancelled, 1, "the engine cancelled the run");
    drop(hold);

    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    assert_eq!(
        h.push(cue("Back again.", 0, 2000)),
        Ok(gst::FlowSuccess::Ok)
    );
    assert!(h.push_event(gst::event::Eos::new()));
    let mut speech = 0;
    while let Some(buffer) = h.try_pull() {
        if !buffer.flags().contains(gst::BufferFlags::GAP) {
            speech += support::s16le_samples(&buffer)
                .iter()
                .filter(|s| s.unsigned_abs() > 100)
                .count();
        }
    }
    assert!(speech > 1000, "the cue after the flush is spoken");
}

#[test]
fn stopping_a_source_during_a_synthesis_cancels_it_and_queries_do_not_wait() {
    init();
    let pipeline = support::pipeline(&format!("neuralttssrc name=src text=\"{LONG}\" ! fakesink"));
    let hold = testing::hold_runs();
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline starts");
    hold.wait_held(1);
    let src = pipeline.by_name("src").expect("src");
    let caps = src.static_pad("src").expect("src pad").query_caps(None);
    assert_eq!(
        caps.structure(0).and_then(|s| s.get::<i32>("rate").ok()),
        Some(22050),
        "the voice's rate, while its model runs"
    );
    support::stop_while_held(&pipeline, &src, &hold);
}
