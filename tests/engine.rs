// SPDX-License-Identifier: MPL-2.0
//! The inference engine on the real models: loads share one model, runs overlap within the thread
//! budget with the results of a run alone, and a cancellation from another thread ends a run in
//! progress — proved by ordering (the engine's hold hook keeps the run open until the test lets it
//! go), never by timing. Each nextest test is its own process, so the engine's counters start at 0.

use std::path::PathBuf;
use std::sync::Arc;

use neural_media::Error;
use neural_media::assets;
use neural_media::engine::{self, Cancel, Overlap, testing};
use neural_media::face::{DetectorConfig, FaceDetector, detect};
use neural_media::runtime::{ExecutionProvider, SessionOptions};
use neural_media::tts::Voice;

/// "Hello world." in the voice's ids (as `tests/tts_voice.rs` pins them).
const HELLO_WORLD_IDS: [i64; 31] = [
    1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0, 24, 0,
    17, 0, 10, 0, 2,
];

fn shared() -> SessionOptions {
    SessionOptions {
        execution_provider: ExecutionProvider::Cpu,
        ..SessionOptions::default()
    }
}

fn detector_path() -> PathBuf {
    assets::data_file(assets::DEFAULT_FACE_DETECTOR)
}

fn detector(options: &SessionOptions) -> FaceDetector {
    FaceDetector::load(&detector_path(), options)
        .unwrap_or_else(|e| panic!("face detector must be provisioned (set-up script): {e}"))
}

mod common;
use common::{deterministic, media_image, rgb_frame as frame};

fn image() -> image::RgbImage {
    media_image("multi_face.jpg")
}

fn config() -> DetectorConfig {
    DetectorConfig {
        detection_size: 640,
        ..DetectorConfig::default()
    }
}

/// Boxes and scores, to compare runs.
fn boxes(det: &mut FaceDetector, img: &image::RgbImage) -> Vec<[f32; 5]> {
    det.detect(&frame(img), &config())
        .expect("detection runs")
        .iter()
        .map(|d| [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2, d.score])
        .collect()
}

fn assert_close(a: &[[f32; 5]], b: &[[f32; 5]], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: {a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y) {
            assert!(
                (p - q).abs() <= 1e-3 * p.abs().max(1.0),
                "{what}: {x:?} vs {y:?}"
            );
        }
    }
}

#[test]
fn loads_share_one_model_unless_an_instance_or_threads_ask_otherwise() {
    let a = detector(&shared());
    let b = detector(&shared());
    let stats = engine::stats();
    assert_eq!(stats.models, 1, "two loads, one model: {stats:?}");
    assert_eq!(
        stats.sessions, 1,
        "one wide session until runs overlap: {stats:?}"
    );
    let c = detector(&SessionOptions {
        instance: "camera-2".into(),
        ..shared()
    });
    assert_eq!(engine::stats().models, 2, "a named instance is separate");
    let d = detector(&SessionOptions {
        threads: 1,
        ..shared()
    });
    assert_eq!(
        engine::stats().sessions,
        3,
        "threads > 0 is a private session outside the registry"
    );
    assert_eq!(engine::stats().models, 2);
    drop((a, b, c, d));
    let stats = engine::stats();
    assert_eq!((stats.models, stats.sessions), (0, 0), "{stats:?}");
}

/// Runs from several threads overlap on narrow sessions (at most one per core) and give the
/// result of a run alone on the wide session, and of a private instance.
#[test]
fn overlapping_runs_give_the_results_of_a_run_alone() {
    let img = Arc::new(image());
    let alone = boxes(&mut detector(&shared()), &img);
    assert_eq!(alone.len(), 5, "multi_face.jpg has 5 faces");
    let private = boxes(
        &mut detector(&SessionOptions {
            threads: 2,
            ..shared()
        }),
        &img,
    );
    assert_close(&alone, &private, "private instance");

    let keep = detector(&shared());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let img = Arc::clone(&img);
            std::thread::spawn(move || {
                let mut det = detector(&shared());
                (0..5).map(|_| boxes(&mut det, &img)).collect::<Vec<_>>()
            })
        })
        .collect();
    for worker in workers {
        for result in worker.join().expect("worker") {
            assert_close(&alone, &result, "overlapping run");
        }
    }
    let stats = engine::stats();
    assert_eq!(stats.models, 1, "{stats:?}");
    assert!(
        stats.sessions as usize <= 1 + engine::budget(),
        "sessions bounded by the budget, not by the 5 handles: {stats:?}"
    );
    drop(keep);
}

/// The runs of a turn-taking load (`Overlap::Never`, the face detector's and the voices') never
/// take a narrow session: runs lined up on the hold hook run one after another on the wide
/// session. The same runs with the default policy do overlap (the control: the test would not
/// see a policy that is ignored otherwise).
#[test]
fn turn_taking_runs_stay_on_the_wide_session() {
    let img = Arc::new(image());
    let alone = boxes(&mut detector(&shared()), &img);
    let lined_up = |overlap: Overlap| {
        let keep = detector(&shared());
        let hold = testing::hold_runs();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let img = Arc::clone(&img);
                std::thread::spawn(move || {
                    let mut det = detector(&SessionOptions {
                        overlap,
                        ..shared()
                    });
                    (0..3).map(|_| boxes(&mut det, &img)).collect::<Vec<_>>()
                })
            })
            .collect();
        hold.wait_held(3);
        drop(hold);
        for worker in workers {
            for result in worker.join().expect("worker") {
                assert_close(&alone, &result, "run");
            }
        }
        let sessions = engine::stats().sessions;
        drop(keep);
        assert_eq!(engine::stats().models, 0);
        sessions
    };
    assert_eq!(
        lined_up(Overlap::Never),
        1,
        "only the wide session: no run overlapped"
    );
    if engine::budget() >= 2 {
        assert!(lined_up(Overlap::Allowed) >= 2, "the control overlaps");
    }
}

/// Handles that differ only in their overlap policy share one model. A load for side-by-side
/// runs (`Overlap::Always`, the TTS lookahead's) starts with one narrow session per core and no
/// wide one; the first run of a handle that takes turns builds the wide session. Both kinds of
/// session give the same audio.
#[test]
fn a_side_by_side_load_starts_narrow_and_builds_the_wide_session_when_needed() {
    let path = assets::data_file(assets::DEFAULT_VOICE);
    let budget = engine::budget() as u64;
    let side_by_side = Voice::load(
        &path,
        None,
        &SessionOptions {
            overlap: Overlap::Always,
            ..shared()
        },
    )
    .unwrap_or_else(|e| panic!("voice must be provisioned (set-up script): {e}"));
    let stats = engine::stats();
    assert_eq!((stats.models, stats.sessions), (1, budget), "{stats:?}");
    let mut turns = Voice::load(&path, None, &shared()).expect("loads");
    let stats = engine::stats();
    assert_eq!(
        (stats.models, stats.sessions),
        (1, budget),
        "one model, and no wide session before a run needs it: {stats:?}"
    );
    let mut narrow = side_by_side.overlapping();
    let config = deterministic(&narrow);
    let a = narrow
        .synthesize_ids(&HELLO_WORLD_IDS, &config)
        .expect("narrow run");
    assert_eq!(engine::stats().sessions, budget, "a narrow run");
    let b = turns
        .synthesize_ids(&HELLO_WORLD_IDS, &config)
        .expect("wide run");
    assert_eq!(
        engine::stats().sessions,
        budget + 1,
        "the first run that takes turns builds the wide session"
    );
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-3, "narrow and wide runs differ by {worst}");
}

/// A request queued or held in a run is cancelled from another thread: the run returns
/// `Cancelled` while the hold (which would otherwise keep it open for ever) is still in place.
/// Another element's run is not affected.
#[test]
fn cancel_ends_a_run_in_progress_and_spares_other_handles() {
    let img = Arc::new(image());
    let cancel = Cancel::new();
    let mut mine = detector(&shared());
    mine.set_cancel(&cancel);
    let hold = testing::hold_runs();
    let running = {
        let img = Arc::clone(&img);
        std::thread::spawn(move || {
            let result = mine.detect(&frame(&img), &config()).map(|d| d.len());
            (result, mine)
        })
    };
    let other = {
        let img = Arc::clone(&img);
        std::thread::spawn(move || boxes(&mut detector(&shared()), &img).len())
    };
    hold.wait_held(2);
    cancel.cancel();
    let (result, mut mine) = running.join().expect("cancelled run returns");
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(hold.held(), 1, "the other handle's run is still held");
    assert_eq!(engine::stats().cancelled, 1);
    // Until reset, new requests fail at once; after it, the handle works again.
    assert!(matches!(
        mine.detect(&frame(&img), &config()),
        Err(Error::Cancelled)
    ));
    drop(hold);
    assert_eq!(other.join().expect("other run"), 5);
    cancel.reset();
    assert_eq!(boxes(&mut mine, &img).len(), 5);
}

/// A real ONNX Runtime run is terminated: a long synthesis, cancelled once the engine has counted
/// it as started, fails with `Cancelled` (ONNX Runtime checks the terminate flag between nodes).
#[test]
fn cancel_terminates_a_long_synthesis() {
    let path = assets::data_file(assets::DEFAULT_VOICE);
    let mut voice = Voice::load(&path, None, &shared())
        .unwrap_or_else(|e| panic!("voice must be provisioned (set-up script): {e}"));
    let cancel = Cancel::new();
    voice.set_cancel(&cancel);
    // "Hello world" with its words repeated: several seconds of speech, one model run.
    let hello = &HELLO_WORLD_IDS[2..HELLO_WORLD_IDS.len() - 1];
    let mut ids = vec![1, 0];
    for _ in 0..12 {
        ids.extend(hello);
    }
    ids.extend([2]);
    let config = voice.default_synthesis_config();
    let runs_before = engine::stats().runs;
    let worker = std::thread::spawn(move || {
        let result = voice.synthesize_ids(&ids, &config).map(|s| s.len());
        (result, voice)
    });
    while engine::stats().runs == runs_before {
        std::thread::yield_now();
    }
    cancel.cancel();
    let (result, mut voice) = worker.join().expect("synthesis returns");
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(engine::stats().cancelled, 1);
    cancel.reset();
    let config = voice.default_synthesis_config();
    let samples = voice
        .synthesize_ids(&HELLO_WORLD_IDS, &config)
        .expect("the voice works after a reset");
    assert!(!samples.is_empty());
}

/// Model inputs cut from the sample image: `rows` blocks of `channels`×`size`×`size` values,
/// each from another place of the image, so that every request of a batch differs.
fn image_rows(
    img: &image::RgbImage,
    at: u32,
    rows: usize,
    channels: usize,
    size: usize,
) -> Vec<f32> {
    let mut data = Vec::with_capacity(rows * channels * size * size);
    for row in 0..rows as u32 {
        let (dx, dy) = (at * 37 + row * 53, at * 29 + row * 41);
        for c in 0..channels {
            for y in 0..size as u32 {
                for x in 0..size as u32 {
                    let p = img.get_pixel((x + dx) % img.width(), (y + dy) % img.height());
                    let v = if channels == 1 {
                        (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) as f32 / 3.0
                    } else {
                        f32::from(p[c])
                    };
                    data.push(v / 255.0);
                }
            }
        }
    }
    data
}

/// Runs the four requests of `inputs` at once from four handles with `policy`, and each alone on
/// an unbatched handle, and asserts that the outputs agree within 1e-4.
fn batched_agrees_with_unbatched(
    model: &std::path::Path,
    input: &str,
    outputs: &'static [&'static str],
    inputs: Vec<(Vec<usize>, Vec<f32>)>,
) {
    use neural_media::engine::{BatchPolicy, RowsInput};
    use neural_media::runtime::Model;
    let unbatched = Model::load(model, &shared()).expect("model loads");
    let alone: Vec<_> = inputs
        .iter()
        .map(|(shape, data)| {
            let rows = RowsInput {
                name: input,
                shape,
                data,
            };
            unbatched.run_rows(rows, outputs).expect("runs")
        })
        .collect();
    assert_eq!(
        engine::stats().batched_runs,
        0,
        "max-batch 0 on the CPU: no batches"
    );

    let batched = SessionOptions {
        batch: BatchPolicy {
            max_batch: inputs.len(),
            timeout: std::time::Duration::from_secs(1),
        },
        ..shared()
    };
    let barrier = Arc::new(std::sync::Barrier::new(inputs.len()));
    let workers: Vec<_> = inputs
        .into_iter()
        .map(|(shape, data)| {
            let (model, batched, barrier) =
                (model.to_path_buf(), batched.clone(), Arc::clone(&barrier));
            let input = input.to_owned();
            std::thread::spawn(move || {
                let handle = Model::load(&model, &batched).expect("model loads");
                // Two rounds: in the second every handle is an active stream, so a batch waits
                // for all of them (or for the timeout).
                (0..2)
                    .map(|_| {
                        barrier.wait();
                        let rows = RowsInput {
                            name: &input,
                            shape: &shape,
                            data: &data,
                        };
                        handle.run_rows(rows, outputs).expect("runs")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (worker, alone) in workers.into_iter().zip(&alone) {
        for result in worker.join().expect("worker") {
            for name in outputs {
                let (shape_a, a) = alone.get(name).expect("output");
                let (shape_b, b) = result.get(name).expect("output");
                assert_eq!(shape_a, shape_b, "{name}");
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst <= 1e-4, "{name}: batched differs by {worst}");
            }
        }
    }
    let stats = engine::stats();
    assert!(
        stats.batched_runs >= 1 && stats.batched_requests >= 2,
        "requests of several handles ran as batches: {stats:?}"
    );
}

/// Cross-stream batching (the path accelerators take by default) on the CPU: detector requests
/// of four handles run as batches and give the outputs of runs alone.
#[test]
fn batched_detector_outputs_equal_unbatched() {
    let img = image();
    let inputs = (0..4)
        .map(|at| (vec![1, 3, 192, 192], image_rows(&img, at, 1, 3, 192)))
        .collect();
    batched_agrees_with_unbatched(
        &detector_path(),
        detect::INPUT,
        &[
            detect::OUTPUT_HEATMAP,
            detect::OUTPUT_SCALE,
            detect::OUTPUT_OFFSET,
            detect::OUTPUT_LANDMARKS,
        ],
        inputs,
    );
}

/// The classifier's requests carry one row per face: requests of 1 to 3 faces are stacked
/// into one batch and cut apart again.
#[test]
fn batched_classifier_outputs_equal_unbatched() {
    let img = image();
    let inputs = (0..4)
        .map(|at| {
            let rows = 1 + at as usize % 3;
            (vec![rows, 1, 64, 64], image_rows(&img, at, rows, 1, 64))
        })
        .collect();
    batched_agrees_with_unbatched(
        &assets::data_file(assets::DEFAULT_EXPRESSION_CLASSIFIER),
        "input",
        &["probabilities"],
        inputs,
    );
}
