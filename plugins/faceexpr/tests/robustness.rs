// SPDX-License-Identifier: MPL-2.0
//! Robustness of `faceexpression` and `expressionoverlay`: no input, fault or load takes a pipeline
//! down.
//!
//! * Bad video: every supported format at 1×1, 2×2, 17×9 and 321×241 (caps renegotiated between
//!   sizes on one element), a 3840×2160 frame, frames without faces, a synthetic crowd of 56
//!   faces bounded by `max-faces`, a resolution change mid-stream (tracks reset, no box outside
//!   the new frame), buffers without timestamps, and overlay metas that lie outside the frame.
//! * Bad models and libraries: missing, empty, truncated and wrong (voice as detector, detector
//!   as classifier) ONNX files and bad descriptors fail the state change with an error naming the
//!   file and the reason, after which the same element runs with good models; a missing or wrong
//!   ONNX Runtime library (in a child process: the library is process-global) likewise.
//! * State storms: NULL→PLAYING→NULL and PAUSED↔PLAYING cycles, flushing seeks on a file and EOS
//!   in every state, without growth in threads or file descriptors.
//!
//! Every wait is bounded; nextest also kills a test after 5 minutes.

use std::path::PathBuf;

use gst::prelude::*;
use gst_video::VideoFormat as F;
use neural_media_test_support::{
    self as support, app_sink, app_src, copy_to, in_child, media, reach,
};

fn init() {
    support::init_once(gstfaceexpr::plugin_register_static);
}

fn tmp_dir() -> PathBuf {
    support::tmp_dir(env!("CARGO_TARGET_TMPDIR"), "faceexpr-robustness")
}

const TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(30);

const ALL_FORMATS: [F; 12] = [
    F::Rgb,
    F::Bgr,
    F::Rgbx,
    F::Bgrx,
    F::Xrgb,
    F::Xbgr,
    F::Rgba,
    F::Bgra,
    F::Argb,
    F::Abgr,
    F::I420,
    F::Nv12,
];

const ODD_SIZES: [(u32, u32); 4] = [(1, 1), (2, 2), (17, 9), (321, 241)];

fn video_info(format: F, width: u32, height: u32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(format, width, height)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap()
}

/// A frame of pseudo-random bytes (no face in it), stamped at `frame` × 1/30 s when `timed`.
fn noise(info: &gst_video::VideoInfo, seed: u32, frame: u64, timed: bool) -> gst::Buffer {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut data = vec![0u8; info.size()];
    for chunk in data.chunks_mut(4) {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let bytes = (state ^ (state >> 15)).to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    stamped(gst::Buffer::from_mut_slice(data), frame, timed)
}

fn stamped(mut buffer: gst::Buffer, frame: u64, timed: bool) -> gst::Buffer {
    if timed {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(frame * 1_000_000_000 / 30));
        b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
    }
    buffer
}

/// A picture from `data/media`, converted and scaled to `format`, `width`×`height`.
fn picture(name: &str, format: F, width: u32, height: u32) -> gst::Buffer {
    init();
    let pipeline = support::pipeline(&format!(
        "filesrc location={} ! jpegdec ! videoconvert ! videoscale ! \
         video/x-raw,format={},width={width},height={height} ! appsink name=sink",
        media(name).display(),
        format.to_str()
    ));
    let sink = app_sink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.try_pull_sample(TIMEOUT).expect("decoded picture");
    let map = sample.buffer().unwrap().map_readable().unwrap();
    assert_eq!(map.len(), video_info(format, width, height).size());
    let buffer = gst::Buffer::from_mut_slice(map.to_vec());
    drop(map);
    pipeline.set_state(gst::State::Null).unwrap();
    buffer
}

#[derive(Debug, Clone)]
struct Face {
    rect: (u32, u32, u32, u32),
    id: i32,
    frames: u64,
}

fn faces(buffer: &gst::BufferRef) -> Vec<Face> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|m| {
            assert_eq!(m.roi_type(), "face");
            let expr = m.param("expression").expect("expression param");
            Face {
                rect: m.rect(),
                id: m.id(),
                frames: expr.get("frames").unwrap(),
            }
        })
        .collect()
}

fn assert_inside(faces: &[Face], width: u32, height: u32, what: &str) {
    for f in faces {
        let (x, y, w, h) = f.rect;
        assert!(
            x + w <= width && y + h <= height,
            "{what}: box {:?} outside the {width}x{height} frame",
            f.rect
        );
    }
}

fn harness(launch: &str, caps: &gst_video::VideoInfo) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::new_parse(launch);
    h.set_src_caps(caps.to_caps().unwrap());
    h
}

/// Pushes a buffer and pulls the result; the element must take it.
fn through(h: &mut gst_check::Harness, buffer: gst::Buffer, what: &str) -> gst::Buffer {
    h.push(buffer)
        .unwrap_or_else(|e| panic!("{what}: push failed: {e:?}"));
    h.pull()
        .unwrap_or_else(|e| panic!("{what}: no output: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Bad video

#[test]
fn every_format_at_odd_sizes_renegotiated_mid_stream() {
    let mut cases = 0;
    for format in ALL_FORMATS {
        let (w0, h0) = ODD_SIZES[0];
        let mut h = harness(
            "faceexpression threads=1 post-messages=every-frame",
            &video_info(format, w0, h0),
        );
        let mut n = 0;
        // Up and down again: every size follows a caps change on the running element.
        for (width, height) in ODD_SIZES.into_iter().chain(ODD_SIZES.into_iter().rev()) {
            let info = video_info(format, width, height);
            h.set_src_caps(info.to_caps().unwrap());
            for _ in 0..2 {
                let what = format!("{format:?} {width}x{height}");
                let out = through(&mut h, noise(&info, n as u32, n, true), &what);
                assert_eq!(out.size(), info.size(), "{what}: in place");
                assert_inside(&faces(&out), width, height, &what);
                n += 1;
            }
            cases += 1;
        }
    }
    eprintln!("{cases} format/size cases passed");
}

fn overlay_meta(buffer: &mut gst::BufferRef, rect: (u32, u32, u32, u32), id: i32) {
    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, "face", rect);
    meta.set_id(id);
    meta.add_param(
        gst::Structure::builder("expression")
            .field("label", "h\u{e9}ll\u{f6} \u{1f600} <b>")
            .field("confidence", f64::NAN)
            .build(),
    );
    meta.add_param(
        gst::Structure::builder("probabilities")
            .field("happy", 5.0f64)
            .field("sad", -1.0f64)
            .field("fear", f64::NAN)
            .field("x", f64::INFINITY)
            .build(),
    );
    let mut landmarks = gst::Structure::builder("landmarks");
    for (k, v) in [-1e9f64, 1e12, f64::NAN, f64::NEG_INFINITY, 3.0]
        .into_iter()
        .enumerate()
    {
        landmarks = landmarks
            .field(format!("x{k}"), v)
            .field(format!("y{k}"), -v);
    }
    meta.add_param(landmarks.build());
}

#[test]
fn overlay_survives_every_packed_format_size_and_wild_metas() {
    let mut cases = 0;
    for format in &ALL_FORMATS[..10] {
        let format = *format;
        let (w0, h0) = ODD_SIZES[0];
        let mut h = harness(
            "expressionoverlay show-probabilities=true show-landmarks=true line-width=32",
            &video_info(format, w0, h0),
        );
        for (width, height) in ODD_SIZES.into_iter().chain([(3840, 2160)]) {
            let info = video_info(format, width, height);
            h.set_src_caps(info.to_caps().unwrap());
            let mut buffer = noise(&info, 7, 0, cases % 2 == 0);
            {
                let b = buffer.get_mut().unwrap();
                overlay_meta(b, (0, 0, width, height), 1);
                overlay_meta(b, (width / 2, height / 2, width * 4, height * 4), -7);
                overlay_meta(b, (u32::MAX - 10, u32::MAX - 10, 100, 100), i32::MIN);
                overlay_meta(b, (10, 10, u32::MAX, u32::MAX), i32::MAX);
                overlay_meta(b, (0, 0, 0, 0), 0);
            }
            let what = format!("overlay {format:?} {width}x{height}");
            let out = through(&mut h, buffer, &what);
            assert_eq!(out.size(), info.size(), "{what}");
            cases += 1;
        }
    }
    eprintln!("{cases} overlay format/size cases passed");
}

#[test]
fn a_4k_frame_with_faces_is_analysed_and_drawn() {
    let info = video_info(F::Bgrx, 3840, 2160);
    let frame = picture("multi_face.jpg", F::Bgrx, 3840, 2160);
    let mut h = harness(
        "faceexpression threads=2 ! expressionoverlay show-probabilities=true show-landmarks=true",
        &info,
    );
    let mut last = Vec::new();
    for n in 0..2 {
        let out = through(&mut h, stamped(frame.copy(), n, true), "4k");
        last = faces(&out);
        assert_inside(&last, 3840, 2160, "4k");
    }
    assert_eq!(last.len(), 5, "the five faces of multi_face.jpg: {last:?}");
}

#[test]
fn frames_without_faces_give_no_metas() {
    let mut cases = 0;
    for format in [F::Rgb, F::Bgrx, F::I420, F::Nv12] {
        let info = video_info(format, 320, 240);
        let mut h = harness("faceexpression threads=1", &info);
        let uniform = |value: u8| gst::Buffer::from_mut_slice(vec![value; info.size()]);
        let landscape = picture("free-mountain-vector-01.jpg", format, 320, 240);
        for (n, buffer) in [
            uniform(0),
            uniform(128),
            uniform(255),
            noise(&info, 3, 0, false),
            landscape.copy(),
            landscape,
        ]
        .into_iter()
        .enumerate()
        {
            let out = through(&mut h, stamped(buffer, n as u64, true), "no face");
            assert!(faces(&out).is_empty(), "{format:?} frame {n}: a face?");
            cases += 1;
        }
    }
    eprintln!("{cases} frames without faces passed");
}

/// 8 × 7 copies of single_face.jpg, each 160×160, in one 1280×1120 RGB frame.
fn crowd() -> (gst_video::VideoInfo, gst::Buffer) {
    const TILE: usize = 160;
    const COLS: usize = 8;
    const ROWS: usize = 7;
    let tile = picture("single_face.jpg", F::Rgb, TILE as u32, TILE as u32);
    let tile = tile.map_readable().unwrap();
    let info = video_info(F::Rgb, (TILE * COLS) as u32, (TILE * ROWS) as u32);
    let stride = info.stride()[0] as usize;
    let mut data = vec![0u8; info.size()];
    for row in 0..ROWS {
        for col in 0..COLS {
            for y in 0..TILE {
                let src = &tile[y * TILE * 3..(y + 1) * TILE * 3];
                let at = (row * TILE + y) * stride + col * TILE * 3;
                data[at..at + TILE * 3].copy_from_slice(src);
            }
        }
    }
    (info, gst::Buffer::from_mut_slice(data))
}

#[test]
fn a_crowd_of_56_faces_is_bounded_by_max_faces() {
    let (info, frame) = crowd();
    let (width, height) = (info.width(), info.height());
    let mut h = harness(
        "faceexpression name=fe threads=2 max-faces=0 detection-size=1280 ! expressionoverlay",
        &info,
    );
    let mut all = Vec::new();
    for n in 0..2 {
        all = faces(&through(&mut h, stamped(frame.copy(), n, true), "crowd"));
        assert_inside(&all, width, height, "crowd");
    }
    assert!(all.len() >= 50, "found {} of 56 faces", all.len());
    let ids: std::collections::BTreeSet<i32> = all.iter().map(|f| f.id).collect();
    assert_eq!(ids.len(), all.len(), "distinct track ids");

    // The bound applies from the next frame on the running element.
    let fe = h
        .element()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("fe")
        .unwrap();
    fe.set_property("max-faces", 10u32);
    for n in 2..5 {
        let bounded = faces(&through(&mut h, stamped(frame.copy(), n, true), "crowd"));
        assert!(bounded.len() <= 10, "max-faces=10 gave {}", bounded.len());
        assert_inside(&bounded, width, height, "crowd bounded");
    }
    eprintln!(
        "crowd: {} faces without a bound, at most 10 with",
        all.len()
    );
}

#[test]
fn a_resolution_change_resets_tracks_and_keeps_boxes_inside_the_new_frame() {
    let big = video_info(F::Rgb, 1000, 667);
    let mut h = harness("faceexpression threads=2", &big);
    let picture_big = picture("multi_face.jpg", F::Rgb, 1000, 667);
    let mut n = 0;
    let mut before = Vec::new();
    for _ in 0..3 {
        before = faces(&through(
            &mut h,
            stamped(picture_big.copy(), n, true),
            "1000x667",
        ));
        n += 1;
    }
    assert_eq!(before.len(), 5, "{before:?}");

    // Half the size: the old boxes would reach past the new frame.
    let small = video_info(F::Rgb, 500, 333);
    let picture_small = picture("multi_face.jpg", F::Rgb, 500, 333);
    h.set_src_caps(small.to_caps().unwrap());
    let mut after = Vec::new();
    for since in 1..=3u64 {
        after = faces(&through(
            &mut h,
            stamped(picture_small.copy(), n, true),
            "500x333",
        ));
        n += 1;
        assert_inside(&after, 500, 333, "after the caps change");
        for f in &after {
            assert!(
                f.frames <= since,
                "track {} is {} frames old, {since} frames after the change: not reset",
                f.id,
                f.frames
            );
        }
    }
    assert_eq!(after.len(), 5, "{after:?}");

    // A tiny frame of noise: nothing stale survives.
    let tiny = video_info(F::Rgb, 64, 48);
    h.set_src_caps(tiny.to_caps().unwrap());
    for _ in 0..2 {
        let out = through(&mut h, noise(&tiny, 1, n, true), "64x48");
        assert!(faces(&out).is_empty(), "stale boxes on a 64x48 frame");
        n += 1;
    }
}

#[test]
fn buffers_without_timestamps_are_analysed() {
    let info = video_info(F::Rgb, 1000, 667);
    let frame = picture("multi_face.jpg", F::Rgb, 1000, 667);
    let mut h = harness(
        "faceexpression threads=2 post-messages=every-frame ! expressionoverlay",
        &info,
    );
    let mut last = Vec::new();
    for _ in 0..3 {
        let out = through(&mut h, frame.copy(), "no timestamps");
        assert_eq!(out.pts(), None);
        last = faces(&out);
    }
    assert_eq!(last.len(), 5, "{last:?}");
}

// ---------------------------------------------------------------------------------------------
// Bad models and libraries

/// Tries to start `pipeline`: the state change must fail with an ERROR message on the bus.
fn start_fails(pipeline: &gst::Pipeline) -> String {
    support::start_fails(pipeline, TIMEOUT).to_string()
}

/// Plays `pipeline` (finite source) to EOS.
fn plays_to_eos(pipeline: &gst::Pipeline) {
    support::play_to_eos(pipeline, TIMEOUT);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn bad_models_fail_the_state_change_and_the_same_element_recovers() {
    init();
    let dir = tmp_dir();
    let detector = neural_media::assets::data_file(neural_media::assets::DEFAULT_FACE_DETECTOR);
    let classifier =
        neural_media::assets::data_file(neural_media::assets::DEFAULT_EXPRESSION_CLASSIFIER);
    let descriptor = neural_media::assets::descriptor_beside(&classifier);
    let voice = neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE);
    let size = std::fs::metadata(&detector).unwrap().len() as usize;

    let empty = copy_to(&detector, &dir.join("empty.onnx"), Some(0));
    let truncated = copy_to(&detector, &dir.join("truncated.onnx"), Some(size / 2));
    // A detector posing as a classifier, with a valid descriptor beside it.
    let detector_as_classifier = copy_to(&detector, &dir.join("posing.onnx"), None);
    copy_to(&descriptor, &dir.join("posing.onnx.json"), None);
    // A real classifier whose descriptor is missing, does not parse, or lacks fields.
    let no_descriptor = copy_to(&classifier, &dir.join("nodesc.onnx"), None);
    let bad_json = copy_to(&classifier, &dir.join("badjson.onnx"), None);
    std::fs::write(dir.join("badjson.onnx.json"), "{ \"input\": [1, 2,").unwrap();
    let no_fields = copy_to(&classifier, &dir.join("nofields.onnx"), None);
    std::fs::write(dir.join("nofields.onnx.json"), "{}").unwrap();

    // (property, file, the file the error names, a word of the reason)
    let cases: Vec<(&str, PathBuf, PathBuf, &str)> = vec![
        (
            "detector-model",
            PathBuf::from("/nonexistent/det.onnx"),
            PathBuf::from("/nonexistent/det.onnx"),
            "No such file",
        ),
        ("detector-model", empty.clone(), empty, "empty"),
        ("detector-model", truncated.clone(), truncated, ""),
        ("detector-model", voice.clone(), voice.clone(), "input"),
        (
            "classifier-model",
            voice.clone(),
            neural_media::assets::descriptor_beside(&voice),
            "",
        ),
        (
            "classifier-model",
            detector_as_classifier.clone(),
            detector_as_classifier,
            "",
        ),
        (
            "classifier-model",
            no_descriptor.clone(),
            neural_media::assets::descriptor_beside(&no_descriptor),
            "is expected next to it, as nodesc.onnx.json",
        ),
        (
            "classifier-model",
            bad_json.clone(),
            neural_media::assets::descriptor_beside(&bad_json),
            "",
        ),
        (
            "classifier-model",
            no_fields.clone(),
            neural_media::assets::descriptor_beside(&no_fields),
            "missing field",
        ),
    ];
    let pipeline = support::pipeline(
        "videotestsrc num-buffers=2 ! video/x-raw,width=160,height=120 ! \
         faceexpression name=fe threads=1 ! fakesink",
    );
    let fe = pipeline.by_name("fe").unwrap();
    for (prop, file, named, reason) in &cases {
        fe.set_property(prop, file.to_str().unwrap());
        let err = start_fails(&pipeline);
        assert!(
            err.contains(&named.display().to_string()),
            "{prop}={}: the error should name {}: {}",
            file.display(),
            named.display(),
            err
        );
        assert!(
            err.contains(reason),
            "{prop}={}: the reason should say {reason:?}: {}",
            file.display(),
            err
        );
        eprintln!("{prop}={}: {}", file.display(), err);
        // The same element, given its good model back, runs.
        fe.set_property(prop, None::<String>);
        plays_to_eos(&pipeline);
    }
    eprintln!("{} bad model cases passed", cases.len());
}

#[test]
fn a_missing_or_wrong_onnx_runtime_library_is_an_error_naming_it() {
    let garbage = tmp_dir().join("libonnxruntime.so.1.32.0");
    std::fs::write(&garbage, b"not a shared library").unwrap();
    let garbage = garbage.to_str().unwrap().to_owned();
    if !in_child(
        "a_missing_or_wrong_onnx_runtime_library_is_an_error_naming_it",
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0")],
        &tmp_dir(),
    ) {
        return;
    }
    init();
    let pipeline = support::pipeline(
        "videotestsrc num-buffers=2 ! video/x-raw,width=160,height=120 ! \
         faceexpression threads=1 ! fakesink",
    );
    let err = start_fails(&pipeline);
    assert!(
        err.contains("/nonexistent/libonnxruntime.so.1.32.0") && err.contains("ONNX Runtime"),
        "{}",
        err
    );
    // Not a shared library; then a shared library that is not ONNX Runtime.
    for (library, reason) in [
        (garbage.as_str(), ""),
        ("/lib/x86_64-linux-gnu/libz.so.1", "OrtGetApiBase"),
    ] {
        // SAFETY: this child process runs this one test; no other thread reads the environment
        // while the pipeline is stopped.
        unsafe { std::env::set_var("ORT_DYLIB_PATH", library) };
        let err = start_fails(&pipeline);
        assert!(err.contains(library) && err.contains(reason), "{}", err);
    }
    // The provisioned library: the same pipeline runs.
    // SAFETY: as above.
    unsafe { std::env::remove_var("ORT_DYLIB_PATH") };
    plays_to_eos(&pipeline);
}

// ---------------------------------------------------------------------------------------------
// State storms

/// Each NULL→PLAYING loads both models (~0.1 s on 2 cores): 200 cycles take ~20 s.
const LOADING_CYCLES: usize = 200;
const PAUSE_CYCLES: usize = 200;

#[test]
fn state_storm_without_thread_or_fd_growth() {
    state_storm("pipelined=false", LOADING_CYCLES, PAUSE_CYCLES);
}

#[test]
fn state_storm_when_pipelined() {
    // Each stop joins the analysis thread; each PAUSED->PLAYING finds it idle or busy.
    state_storm("pipelined=true", LOADING_CYCLES / 4, PAUSE_CYCLES / 2);
}

fn state_storm(props: &str, loading_cycles: usize, pause_cycles: usize) {
    init();
    let pipeline = support::pipeline(&format!(
        "videotestsrc pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ! \
         faceexpression threads=1 {props} ! expressionoverlay ! fakesink"
    ));
    support::state_storm(&pipeline, props, loading_cycles, pause_cycles, |_| {});
}

#[test]
fn flushing_seeks_on_a_file_reset_tracks() {
    flushing_seeks("pipelined=false");
}

#[test]
fn flushing_seeks_reset_tracks_when_pipelined() {
    // The frame with the worker thread at the flush is dropped, not pushed after the seek.
    flushing_seeks("pipelined=true");
}

fn flushing_seeks(props: &str) {
    init();
    let pipeline = support::pipeline(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! faceexpression threads=1 {props} ! \
         appsink name=sink sync=false max-buffers=2",
        media("WolfgangLanger_Pexels.mp4").display()
    ));
    let sink = app_sink(&pipeline, "sink");
    reach(&pipeline, gst::State::Playing);
    sink.try_pull_sample(TIMEOUT).expect("first frame");
    for target in [5u64, 1, 10, 10, 0] {
        let target = gst::ClockTime::from_seconds(target);
        pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, target)
            .expect("seek");
        for since in 1..=5u64 {
            let sample = sink.try_pull_sample(TIMEOUT).expect("frame after seek");
            let buffer = sample.buffer().unwrap();
            let pts = buffer.pts().unwrap();
            assert!(
                pts + gst::ClockTime::from_mseconds(50) >= target
                    && pts < target + gst::ClockTime::from_seconds(1),
                "frame at {pts} after a seek to {target}"
            );
            for f in faces(buffer) {
                assert!(
                    f.frames <= since,
                    "track {} is {} frames old {since} frames after the seek to {target}",
                    f.id,
                    f.frames
                );
            }
        }
    }
    support::assert_no_error(&pipeline);
    reach(&pipeline, gst::State::Null);
}

#[test]
fn eos_in_every_state() {
    init();
    // PAUSED is `eos_while_paused`: with a push source, GStreamer 1.22's basesrc blocks an EOS
    // sent in PAUSED until PLAYING, and racing it with the change to PLAYING hangs even a stock
    // `videotestsrc ! fakesink` (measured: 40 tries did not finish in 250 s).
    for state in [gst::State::Null, gst::State::Ready, gst::State::Playing] {
        let pipeline = support::pipeline(
            "videotestsrc ! video/x-raw,width=160,height=120 ! \
             faceexpression name=fe threads=1 ! expressionoverlay ! fakesink",
        );
        if state != gst::State::Null {
            reach(&pipeline, state);
        }
        // The source takes it in any state; before it runs, it may forget it (then once more).
        // Outside PAUSED sending does not block, so no thread races the state change.
        pipeline.send_event(gst::event::Eos::new());
        if state != gst::State::Playing {
            reach(&pipeline, gst::State::Playing);
        }
        let bus = pipeline.bus().unwrap();
        let types = [gst::MessageType::Eos, gst::MessageType::Error];
        let msg = match bus.timed_pop_filtered(gst::ClockTime::from_seconds(3), &types) {
            Some(msg) => msg,
            None if state < gst::State::Paused => {
                pipeline.send_event(gst::event::Eos::new());
                bus.timed_pop_filtered(TIMEOUT, &types)
                    .unwrap_or_else(|| panic!("no EOS after EOS in {state:?}"))
            }
            None => panic!("no EOS after EOS in {state:?}"),
        };
        assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
        // A second EOS, straight into the element, after the first.
        let sinkpad = pipeline.by_name("fe").unwrap().static_pad("sink").unwrap();
        let _ = sinkpad.send_event(gst::event::Eos::new());
        reach(&pipeline, gst::State::Null);
        // And once stopped: refused, no harm done.
        assert!(!sinkpad.send_event(gst::event::Eos::new()));
    }
}

#[test]
fn eos_while_paused() {
    init();
    let pipeline = support::pipeline(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width=160,height=120,framerate=25/1 \
         ! faceexpression threads=1 ! expressionoverlay ! fakesink",
    );
    let src = app_src(&pipeline, "src");
    let mut frame = gst::Buffer::from_mut_slice(vec![0u8; 160 * 120 * 3]);
    frame.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(frame).unwrap();
    reach(&pipeline, gst::State::Paused);
    // Issued while PAUSED (appsrc queues it without blocking), delivered once PLAYING.
    src.end_of_stream().unwrap();
    reach(&pipeline, gst::State::Playing);
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(TIMEOUT, &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("EOS after EOS in PAUSED");
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
    reach(&pipeline, gst::State::Null);
}
