// SPDX-License-Identifier: MPL-2.0
//! The face core on the real models and media (`data/`, provisioned by the set-up script).
//! Every test here needs the models and FAILS when they are missing.
//!
//! Facts pinned here (CPU, ONNX Runtime 1.32):
//! * CenterFace finds exactly 5 faces in `multi_face.jpg` (1000×667) and 6 in `t1.jpg`
//!   (1280×886) at detection sizes 320 and 640 (also 480–960; at 1280, i.e. upscaled, the
//!   512×512 posed portraits get spurious extra faces, so don't upscale much).
//! * mini-Xception on the posed portraits (CenterFace box, detection size 640): surprise →
//!   `surprise` (≈0.51, `fear` ≈0.37 second), happy → `happy` (≈1.0). It gets the other two
//!   wrong: the angry face → `sad` (≈0.51, `angry` ≈0.34 second) and the disgusted face →
//!   `neutral` (≈0.58, `sad` ≈0.24, `angry` ≈0.15); `disgust` is nearly never predicted (FER2013
//!   has few disgust samples).
//! * The classifier input matches `scripts/face_reference.py` (numpy re-implementation of the
//!   documented crop/resize) to float precision on identical pixels (`tests/data/face_reference.json`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use gst::prelude::*;
use neural_media::Error;
use neural_media::assets;
use neural_media::face::classify::{self, CropDescriptor};
use neural_media::face::frame::Region;
use neural_media::face::{
    AnnotatorConfig, BBox, BoxSource, Detection, DetectionMode, DetectorConfig,
    ExpressionAnnotator, ExpressionClassifier, FaceDetector, Frame, Smoothing, TrackerConfig,
};
use neural_media::runtime::{ExecutionProvider, SessionOptions};
use serde_json::Value;

fn options() -> SessionOptions {
    SessionOptions {
        execution_provider: ExecutionProvider::Cpu,
        threads: 2,
        ..SessionOptions::default()
    }
}

fn detector_path() -> PathBuf {
    assets::data_file(assets::DEFAULT_FACE_DETECTOR)
}

fn classifier_path() -> PathBuf {
    assets::data_file(assets::DEFAULT_EXPRESSION_CLASSIFIER)
}

fn detector() -> FaceDetector {
    let path = detector_path();
    FaceDetector::load(&path, &options())
        .unwrap_or_else(|e| panic!("face detector must be provisioned (set-up script): {e}"))
}

fn classifier() -> ExpressionClassifier {
    let path = classifier_path();
    ExpressionClassifier::load(&path, None, &options()).unwrap_or_else(|e| {
        panic!("expression classifier must be provisioned (set-up script): {e}")
    })
}

mod common;
use common::{media_image as media, rgb_frame};

fn config(detection_size: u32) -> DetectorConfig {
    DetectorConfig {
        detection_size,
        ..DetectorConfig::default()
    }
}

fn top(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

fn check_faces(faces: &[Detection], w: f32, h: f32) {
    for f in faces {
        let b = f.bbox;
        assert!(b.is_valid() && b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= w && b.y2 <= h);
        assert!(f.score > 0.5 && f.score <= 1.0);
        // Eyes above the mouth corners, all landmarks inside the box.
        for &(x, y) in &f.landmarks {
            assert!(x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2, "{f:?}");
        }
        assert!(f.landmarks[0].1 < f.landmarks[3].1 && f.landmarks[1].1 < f.landmarks[4].1);
        assert!(f.landmarks[0].0 < f.landmarks[1].0, "{f:?}");
    }
    for w in faces.windows(2) {
        assert!(w[0].score >= w[1].score);
    }
}

#[test]
fn detector_counts_faces_in_group_photos() {
    let mut det = detector();
    for (name, expected) in [("multi_face.jpg", 5), ("t1.jpg", 6)] {
        let img = media(name);
        let frame = rgb_frame(&img);
        for size in [320, 640] {
            let faces = det.detect(&frame, &config(size)).unwrap();
            assert_eq!(faces.len(), expected, "{name} at detection size {size}");
            check_faces(&faces, img.width() as f32, img.height() as f32);
        }
        // max_faces and min_face_size.
        let limited = DetectorConfig {
            max_faces: 2,
            ..config(320)
        };
        assert_eq!(det.detect(&frame, &limited).unwrap().len(), 2);
        let huge = DetectorConfig {
            min_face_size: 400.0,
            ..config(320)
        };
        assert!(det.detect(&frame, &huge).unwrap().is_empty());
    }
}

/// RGB → I420 (BT.601 limited range), to run the YUV path on a real image.
fn to_i420(img: &image::RgbImage) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let px = |x: usize, y: usize| {
        let p = img.get_pixel(x.min(w - 1) as u32, y.min(h - 1) as u32).0;
        (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]))
    };
    let mut y_plane = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            y_plane[y * w + x] = (16.0 + 219.0 / 255.0 * (0.299 * r + 0.587 * g + 0.114 * b))
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    for y in 0..ch {
        for x in 0..cw {
            let (r, g, b) = px(2 * x, 2 * y);
            let luma = 0.299 * r + 0.587 * g + 0.114 * b;
            u[y * cw + x] = (128.0 + 224.0 / 255.0 * (b - luma) / 1.772).round() as u8;
            v[y * cw + x] = (128.0 + 224.0 / 255.0 * (r - luma) / 1.402).round() as u8;
        }
    }
    (y_plane, u, v)
}

#[test]
fn yuv_frames_give_the_same_faces_and_expressions() {
    let (mut det, mut cls) = (detector(), classifier());
    let img = media("multi_face.jpg");
    let rgb = rgb_frame(&img);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (y, u, v) = to_i420(&img);
    let cw = w.div_ceil(2);
    let i420 = Frame::i420(w, h, &y, w, &u, cw, &v, cw).unwrap();
    let mut uv = Vec::with_capacity(u.len() * 2);
    for (a, b) in u.iter().zip(&v) {
        uv.extend([*a, *b]);
    }
    let nv12 = Frame::nv12(w, h, &y, w, &uv, cw * 2).unwrap();
    let reference = det.detect(&rgb, &config(640)).unwrap();
    let ref_probs = cls
        .classify(&rgb, &reference.iter().map(|d| d.bbox).collect::<Vec<_>>())
        .unwrap();
    for frame in [i420, nv12] {
        let faces = det.detect(&frame, &config(640)).unwrap();
        assert_eq!(faces.len(), reference.len(), "{:?}", frame.format());
        let boxes: Vec<BBox> = faces.iter().map(|d| d.bbox).collect();
        let probs = cls.classify(&frame, &boxes).unwrap();
        for (f, p) in faces.iter().zip(&probs) {
            // Same face (best IoU) → same top expression.
            let (i, iou) = reference
                .iter()
                .enumerate()
                .map(|(i, r)| (i, r.bbox.iou(&f.bbox)))
                .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
            assert!(iou > 0.8, "{iou}");
            assert_eq!(top(p), top(&ref_probs[i]), "{p:?} vs {:?}", ref_probs[i]);
        }
    }
}

#[test]
fn classifier_on_posed_portraits() {
    let (mut det, mut cls) = (detector(), classifier());
    let labels = cls.labels().to_vec();
    assert_eq!(
        labels,
        [
            "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"
        ]
    );
    // (image, expected top label, posed expression). The last two are the model's mistakes.
    let cases = [
        ("0-f1-su-ph.jpg", "surprise", "surprise"),
        ("0-f15-hao-ph.jpg", "happy", "happy"),
        ("15-f13-anc-ph.jpg", "sad", "angry"),
        ("45-m7-di-ph.jpg", "neutral", "disgust"),
    ];
    for (name, predicted, posed) in cases {
        let img = media(name);
        let frame = rgb_frame(&img);
        let faces = det.detect(&frame, &config(640)).unwrap();
        assert_eq!(faces.len(), 1, "{name}");
        let probs = cls.classify(&frame, &[faces[0].bbox]).unwrap();
        assert_eq!(probs.len(), 1);
        let p = &probs[0];
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        let summary: Vec<String> = labels
            .iter()
            .zip(p)
            .map(|(l, v)| format!("{l} {v:.3}"))
            .collect();
        eprintln!("{name} (posed {posed}): {}", summary.join(", "));
        assert_eq!(labels[top(p)], predicted, "{name}: {summary:?}");
    }
    // The angry face: angry is the runner-up.
    let img = media("15-f13-anc-ph.jpg");
    let frame = rgb_frame(&img);
    let faces = det.detect(&frame, &config(640)).unwrap();
    let p = &cls.classify(&frame, &[faces[0].bbox]).unwrap()[0];
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    assert_eq!(labels[order[1]], "angry", "{p:?}");
    assert!(cls.classify(&frame, &[]).unwrap().is_empty());
}

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/face_reference.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn boxes(v: &Value) -> Vec<BBox> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let b = floats(b);
            BBox::new(b[0], b[1], b[2], b[3])
        })
        .collect()
}

fn regions(v: &Value) -> Vec<Region> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let r: Vec<i64> = r
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            Region {
                x: r[0],
                y: r[1],
                width: r[2] as usize,
                height: r[3] as usize,
            }
        })
        .collect()
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 {c}"),
    };
    let clean: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= u32::from(value(c)) << (18 - 6 * i);
        }
        out.extend(&acc.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn classifier_matches_python_reference_on_identical_pixels() {
    let reference = reference();
    let mut cls = classifier();
    // The reference was made with the same descriptor.
    let d = cls.descriptor();
    let want = &reference["descriptor"]["input"];
    assert_eq!(want["width"].as_u64(), Some(d.input.width as u64));
    assert_eq!(want["height"].as_u64(), Some(d.input.height as u64));
    assert_eq!(want["color"].as_str(), Some("gray"));
    assert!((want["scale"].as_f64().unwrap() as f32 - d.input.scale).abs() < 1e-9);
    assert!((want["offset"].as_f64().unwrap() as f32 - d.input.offset).abs() < 1e-9);
    let indices: Vec<usize> = reference["crop_sample_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let crop = CropDescriptor {
        square: true,
        margin_px: 10.0,
    };
    let mut worst: f32 = 0.0;
    let cases = reference["exact"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let png = base64_decode(case["png_base64"].as_str().unwrap());
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        let frame = rgb_frame(&img);
        let boxes = boxes(&case["boxes"]);
        let regions = regions(&case["regions"]);
        let sums = floats(&case["crop_sums"]);
        for (i, b) in boxes.iter().enumerate() {
            assert_eq!(classify::crop_region(b, &crop), regions[i]);
            let t = classify::crop_tensor(&frame, b, cls.descriptor()).unwrap();
            let sum: f64 = t.iter().map(|&v| f64::from(v)).sum();
            assert!(
                (sum - f64::from(sums[i])).abs() < 1e-2,
                "{sum} vs {}",
                sums[i]
            );
            let samples: Vec<f32> = indices.iter().map(|&k| t[k]).collect();
            let want = floats(&case["crop_samples"][i]);
            assert!(max_abs_diff(&samples, &want) < 1e-4, "{samples:?} {want:?}");
        }
        // One batched run for all boxes of the frame.
        let probs = cls.classify(&frame, &boxes).unwrap();
        for (got, want) in probs.iter().zip(case["probabilities"].as_array().unwrap()) {
            let d = max_abs_diff(got, &floats(want));
            worst = worst.max(d);
            assert!(d < 1e-3, "{}: {got:?} vs {want:?}", case["source"]);
        }
    }
    eprintln!("max |Δp| vs Python reference on identical pixels: {worst:.2e}");
}

#[test]
fn classifier_close_to_python_reference_on_jpeg_decodes() {
    // Pillow (libjpeg-turbo) and the image crate decode these JPEGs slightly differently (up to
    // 4 levels on some pixels), so only the decoder differs here.
    let reference = reference();
    let mut cls = classifier();
    let mut worst: f32 = 0.0;
    for case in reference["decoded"].as_array().unwrap() {
        let name = case["source"].as_str().unwrap();
        let img = media(name);
        assert_eq!(u64::from(img.width()), case["width"].as_u64().unwrap());
        let frame = rgb_frame(&img);
        let means = floats(&case["channel_means"]);
        let n = (img.width() * img.height()) as f64;
        for (c, want) in means.iter().enumerate() {
            let mean = img.pixels().map(|p| f64::from(p.0[c])).sum::<f64>() / n;
            assert!(
                (mean - f64::from(*want)).abs() < 0.25,
                "{name}: decoded channel {c} mean {mean} vs Pillow {want}"
            );
        }
        let probs = cls.classify(&frame, &boxes(&case["boxes"])).unwrap();
        for (got, want) in probs.iter().zip(case["probabilities"].as_array().unwrap()) {
            let want = floats(want);
            let d = max_abs_diff(got, &want);
            worst = worst.max(d);
            assert!(d < 0.02, "{name}: {got:?} vs {want:?}");
            assert_eq!(top(got), top(&want));
        }
    }
    eprintln!("max |Δp| vs Python reference on each decoder's own pixels: {worst:.2e}");
}

fn expect_model_error(result: Result<impl std::fmt::Debug, Error>, path: &Path) {
    match result {
        Err(e @ Error::Model { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "error does not name {}: {message}",
                path.display()
            );
        }
        other => panic!(
            "expected a model error for {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn bad_models_are_errors_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("face-models-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Missing.
    let missing = dir.join("missing.onnx");
    expect_model_error(FaceDetector::load(&missing, &options()), &missing);
    // Corrupt.
    let corrupt = dir.join("corrupt.onnx");
    std::fs::write(&corrupt, b"not an onnx model").unwrap();
    expect_model_error(FaceDetector::load(&corrupt, &options()), &corrupt);
    // A valid model of another kind: the TTS voice as detector, and as classifier.
    let voice = assets::data_file(assets::DEFAULT_VOICE);
    assert!(voice.is_file(), "{} must be provisioned", voice.display());
    expect_model_error(FaceDetector::load(&voice, &options()), &voice);
    let descriptor = assets::descriptor_beside(&classifier_path());
    expect_model_error(
        ExpressionClassifier::load(&voice, Some(&descriptor), &options()),
        &voice,
    );
    // The detector given as classifier.
    let det = detector_path();
    expect_model_error(
        ExpressionClassifier::load(&det, Some(&descriptor), &options()),
        &det,
    );
    // Missing or invalid descriptor: a configuration error naming it.
    for (name, content) in [("none.json", None), ("bad.json", Some("{\"labels\": []}"))] {
        let path = dir.join(name);
        if let Some(content) = content {
            std::fs::write(&path, content).unwrap();
        }
        match ExpressionClassifier::load(&classifier_path(), Some(&path), &options()) {
            Err(e @ Error::Config { .. }) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}")
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }
    // A model without the descriptor beside it: the error says where the descriptor is expected.
    let lone = dir.join("lone.onnx");
    std::fs::copy(classifier_path(), &lone).unwrap();
    match ExpressionClassifier::load(&lone, None, &options()) {
        Err(e @ Error::Config { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "invalid configuration {dir}/lone.onnx.json: No such file or directory (os error 2); \
                 the classifier descriptor of {dir}/lone.onnx is expected next to it, as \
                 lone.onnx.json (the model's file name with .json appended)",
                dir = dir.display()
            )
        ),
        other => panic!("expected a config error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 640×360 RGB frame: `multi_face.jpg` scaled to 540×360, centred on black.
fn frame_640x360() -> image::RgbImage {
    let img = media("multi_face.jpg");
    let small = image::imageops::resize(&img, 540, 360, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::new(640, 360);
    image::imageops::overlay(&mut canvas, &small, 50, 0);
    canvas
}

#[test]
fn annotator_tracks_faces_across_frames() {
    let mut annotator = ExpressionAnnotator::new(
        detector(),
        classifier(),
        AnnotatorConfig {
            detector: config(320),
            tracker: TrackerConfig {
                min_hits: 2,
                ..TrackerConfig::default()
            },
            smoothing: Smoothing::default(),
            inference_interval: 2,
            classify_interval: 3,
            ..AnnotatorConfig::default()
        },
    );
    let img = frame_640x360();
    let mut ids: Vec<u64> = Vec::new();
    let mut timings = Vec::new();
    for n in 0..8u64 {
        // Pan the picture 2 px per frame.
        let shifted = image::imageops::crop_imm(&img, (n * 2) as u32, 0, 600, 360).to_image();
        let frame = rgb_frame(&shifted);
        let out = annotator.process(&frame).unwrap();
        assert_eq!(out.stats.frame, n);
        assert_eq!(out.stats.detector_ran, n % 2 == 0, "frame {n}");
        if n < 2 {
            // Not confirmed before the second detection (min_hits 2), but classified at once.
            assert!(out.faces.is_empty());
            assert_eq!(out.stats.classified, if n == 0 { 5 } else { 0 });
            continue;
        }
        assert_eq!(out.faces.len(), 5, "frame {n}");
        let mut now: Vec<u64> = out.faces.iter().map(|f| f.track_id).collect();
        now.sort();
        if ids.is_empty() {
            ids = now;
            assert_eq!(ids, [1, 2, 3, 4, 5]);
            assert_eq!(out.changes.len(), 5);
            assert!(out.changes.iter().all(|c| c.old.is_none()));
        } else {
            assert_eq!(now, ids, "ids must be stable");
        }
        assert_eq!(out.stats.classified > 0, n % 3 == 0, "frame {n}");
        for f in &out.faces {
            assert_eq!(f.detected, n % 2 == 0);
            assert_eq!(f.probabilities.len(), 7);
            assert!((f.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-3);
            assert_eq!(f.label, annotator.labels()[f.label_index]);
            assert!(f.bbox.is_valid() && f.bbox.x2 <= 600.0);
            assert_eq!(f.frames_tracked, n + 1);
        }
        if out.stats.detector_ran {
            timings.push((out.stats.detect_time, out.stats.classify_time));
        }
    }
    // Happy faces dominate the picture.
    let img = frame_640x360();
    let out = annotator.process(&rgb_frame(&img)).unwrap();
    let happy = out.faces.iter().filter(|f| f.label == "happy").count();
    assert!(happy >= 3, "{:?}", out.faces);
    annotator.reset();
    let out = annotator.process(&rgb_frame(&img)).unwrap();
    assert!(out.faces.is_empty() && out.stats.frame == 0);
    eprintln!("annotator detect/classify timings at 600x360, detection size 320: {timings:?}");
}

#[test]
fn detect_and_classify_timing_640x360() {
    let (mut det, mut cls) = (detector(), classifier());
    let img = frame_640x360();
    let frame = rgb_frame(&img);
    for size in [320, 640] {
        let cfg = config(size);
        let _ = det.detect(&frame, &cfg).unwrap(); // warm-up
        let runs = 5;
        let (mut td, mut tc) = (0.0, 0.0);
        let mut faces = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let found = det.detect(&frame, &cfg).unwrap();
            td += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let boxes: Vec<BBox> = found.iter().map(|d| d.bbox).collect();
            cls.classify(&frame, &boxes).unwrap();
            tc += t.elapsed().as_secs_f64();
            faces = found.len();
        }
        assert_eq!(faces, 5, "detection size {size}");
        eprintln!(
            "640x360, detection size {size}: detect {:.1} ms, classify {faces} faces {:.1} ms",
            td * 1e3 / f64::from(runs),
            tc * 1e3 / f64::from(runs)
        );
    }
}

/// Decodes `data/media/<name>` to RGB and calls `f` with each frame's number and view
/// (GStreamer, in this thread).
fn each_video_frame(name: &str, mut f: impl FnMut(usize, &Frame<'_>)) {
    gst::init().expect("GStreamer");
    let path = assets::data_dir().join("media").join(name);
    assert!(
        path.is_file(),
        "{} missing: run scripts/setup.sh",
        path.display()
    );
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false",
        path.display()
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .expect("sink")
        .downcast::<gst_app::AppSink>()
        .expect("an appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let mut n = 0;
    while let Ok(sample) = sink.pull_sample() {
        let caps = sample.caps().expect("caps");
        let info = gst_video::VideoInfo::from_caps(caps).expect("video caps");
        let buffer = sample.buffer().expect("buffer");
        let map = buffer.map_readable().expect("readable");
        let frame = Frame::packed(
            neural_media::face::PixelFormat::Rgb,
            info.width() as usize,
            info.height() as usize,
            &map,
            info.stride()[0] as usize,
        )
        .expect("RGB frame");
        f(n, &frame);
        n += 1;
    }
    pipeline.set_state(gst::State::Null).expect("null");
}

/// One reported face, as the agreement test compares it.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    bbox: BBox,
    label: String,
    raw_label: String,
}

fn seen(out: &neural_media::face::FrameAnnotations) -> Vec<Seen> {
    out.faces
        .iter()
        .map(|f| Seen {
            id: f.track_id,
            bbox: f.bbox,
            label: f.label.clone(),
            raw_label: f.raw_label.clone(),
        })
        .collect()
}

/// Pairs of faces on one frame, best IoU first, each face at most once, IoU ≥ 0.3.
fn match_faces(a: &[Seen], b: &[Seen]) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            let iou = x.bbox.iou(&y.bbox);
            if iou >= 0.3 {
                pairs.push((iou, i, j));
            }
        }
    }
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut out = Vec::new();
    for (_, i, j) in pairs {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            out.push((i, j));
        }
    }
    out
}

/// Id switches of one run: a face overlapping (IoU ≥ 0.5) a face of the previous frame under
/// another id, plus every id beyond the first.
fn id_switches(frames: &[Vec<Seen>]) -> usize {
    let mut ids = std::collections::BTreeSet::new();
    let mut switches = 0;
    for (n, faces) in frames.iter().enumerate() {
        for f in faces {
            ids.insert(f.id);
            if n > 0 {
                switches += frames[n - 1]
                    .iter()
                    .filter(|p| p.id != f.id && p.bbox.iou(&f.bbox) >= 0.5)
                    .count();
            }
        }
    }
    switches + ids.len().saturating_sub(1)
}

/// `detection-mode=roi` against `full` over the sample clips, both at inference-interval 1 with
/// the default full-scan interval (issue #11): labels per (frame, track) with tracks matched by
/// IoU, faces per frame, id switches, and how late a face that enters is confirmed.
/// `face_noface.mov` runs its faceless end first, then (no reset) its start: a face enters.
/// Measured (CPU, 2 cores): counts equal on 800/809 frames (the 9: the entering face, worst case
/// by construction), smoothed labels 97.6 %, raw 94.5 % of 613 face-frames, no id switch in either.
#[test]
fn roi_detection_agrees_with_full_frame_detection() {
    let annotator = |mode: DetectionMode| {
        let config = AnnotatorConfig {
            detection_mode: mode,
            ..AnnotatorConfig::default()
        };
        ExpressionAnnotator::load(
            &detector_path(),
            &classifier_path(),
            None,
            &SessionOptions::default(),
            config,
        )
        .expect("models provisioned (set-up script)")
    };
    let (mut full, mut roi) = (
        annotator(DetectionMode::Full),
        annotator(DetectionMode::Roi),
    );
    let interval = roi.config().full_scan_interval as usize;
    // (clip, first frame, end, reset before): 91 faceless frames put the entering face right
    // after a whole-frame scan (91 = 9 * 10 + 1): the worst case for the default interval 10.
    let runs = [
        ("WolfgangLanger_Pexels.mp4", 0, usize::MAX, true),
        ("face_noface.mov", 78, usize::MAX, true),
        ("face_noface.mov", 0, 78, false),
        ("single_face.mp4", 0, usize::MAX, true),
        ("no_face.mp4", 0, usize::MAX, true),
    ];
    let (mut frames, mut equal, mut pairs, mut smoothed, mut raw) = (0, 0, 0, 0, 0);
    let (mut switches_full, mut switches_roi, mut crop_frames) = (0, 0, 0);
    for &(clip, from, to, reset) in &runs {
        if reset {
            full.reset();
            roi.reset();
        }
        let (mut a_frames, mut b_frames) = (Vec::new(), Vec::new());
        each_video_frame(clip, |n, frame| {
            if n < from || n >= to {
                return;
            }
            let a = full.process(frame).unwrap();
            let b = roi.process(frame).unwrap();
            assert!(a.stats.full_scan && a.stats.crops == 0);
            crop_frames += usize::from(!b.stats.full_scan);
            for f in &b.faces {
                let expected = if b.stats.full_scan {
                    BoxSource::Full
                } else {
                    BoxSource::Roi
                };
                assert_eq!(f.box_source, expected);
            }
            a_frames.push(seen(&a));
            b_frames.push(seen(&b));
        });
        for (a, b) in a_frames.iter().zip(&b_frames) {
            equal += usize::from(a.len() == b.len());
            // A face in one run only counts as a disagreement.
            pairs += a.len().max(b.len());
            for (i, j) in match_faces(a, b) {
                smoothed += usize::from(a[i].label == b[j].label);
                raw += usize::from(a[i].raw_label == b[j].raw_label);
            }
        }
        frames += a_frames.len();
        switches_full += id_switches(&a_frames);
        switches_roi += id_switches(&b_frames);
        if clip == "face_noface.mov" && from == 0 {
            let first = |f: &[Vec<Seen>]| f.iter().position(|faces| !faces.is_empty());
            let (a, b) = (
                first(&a_frames).expect("full"),
                first(&b_frames).expect("roi"),
            );
            eprintln!("face_noface.mov: entering face confirmed on frame {a} (full), {b} (roi)");
            assert!(b < a + interval, "confirmed {} frames late", b - a);
        }
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    eprintln!(
        "roi vs full over {frames} frames: face counts equal on {equal} ({:.1} %); of {pairs} \
         face-frames, smoothed labels agree on {smoothed} ({:.1} %), raw on {raw} ({:.1} %); \
         id switches full {switches_full}, roi {switches_roi}; roi scanned crops only on \
         {crop_frames} frames",
        pct(equal, frames),
        pct(smoothed, pairs),
        pct(raw, pairs)
    );
    assert!(crop_frames * 2 > frames, "roi must mostly look at crops");
    assert!(pct(equal, frames) >= 98.0);
    assert!(pct(smoothed, pairs) >= 97.0);
    assert!(pct(raw, pairs) >= 93.0);
    assert!(switches_roi <= switches_full);
}
