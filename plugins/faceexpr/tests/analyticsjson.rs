// SPDX-License-Identifier: MPL-2.0
//! `analyticsjson`: hand-made face metas become one JSON line per frame with every field,
//! buffers pass through untouched, empty frames are written or skipped; the sample clip gives
//! 472 ordered lines; with `output=mqtt` a real `mosquitto` broker receives every frame's JSON,
//! in order, byte-identical to the file; a missing broker or location fails the start.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use neural_media_test_support::{self as support, media};
use serde_json::Value;

fn init() {
    support::init_once(gstfaceexpr::plugin_register_static);
}

/// A fresh path under Cargo's per-target temp dir.
fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("analyticsjson");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

const W: u32 = 320;
const H: u32 = 240;

fn harness(props: &str) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::new_parse(&format!("analyticsjson {props}"));
    h.set_src_caps_str(&format!(
        "video/x-raw,format=RGB,width={W},height={H},framerate=25/1"
    ));
    h
}

const LABELS: [&str; 7] = [
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
];

/// A frame with `faces` face metas (track ids 7, 8, …) built like `faceexpression` does, plus
/// one non-face ROI that must be ignored.
fn frame(pts_ms: u64, faces: usize) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(vec![0x5au8; (W * H * 3) as usize]);
    {
        let buffer = buffer.get_mut().unwrap();
        buffer.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        buffer.set_duration(gst::ClockTime::from_mseconds(40));
        gst_video::VideoRegionOfInterestMeta::add(buffer, "car", (0, 0, 10, 10));
        for k in 0..faces {
            let track = 7 + k as u64;
            let x = 32 + 100 * k as u32;
            let mut meta =
                gst_video::VideoRegionOfInterestMeta::add(buffer, "face", (x, 48, 64, 96));
            meta.set_id(track as i32);
            meta.add_param(
                gst::Structure::builder("expression")
                    .field("label", "happy")
                    .field("confidence", 0.75f64)
                    .field("raw-label", "surprise")
                    .field("box-source", "roi")
                    .field("track-id", track)
                    .field("frames", 12u64 + k as u64)
                    .field("detection-confidence", 0.875f64)
                    .build(),
            );
            let mut probs = gst::Structure::builder("probabilities");
            for (i, label) in LABELS.iter().enumerate() {
                probs = probs.field(*label, i as f64 / 32.0);
            }
            meta.add_param(probs.build());
            let mut lm = gst::Structure::builder("landmarks");
            for i in 0..5 {
                lm = lm
                    .field(format!("x{i}"), f64::from(x) + i as f64 + 0.5)
                    .field(format!("y{i}"), 60.0 + 2.0 * i as f64);
            }
            meta.add_param(lm.build());
        }
    }
    buffer
}

#[track_caller]
fn approx(value: &Value, want: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((got - want).abs() < 1e-9, "{got} != {want}");
}

fn assert_face(face: &Value, k: usize) {
    let track = 7 + k as u64;
    let x = 32 + 100 * k as u64;
    assert_eq!(face["id"], track);
    assert_eq!(
        (face["x"].as_u64(), face["y"].as_u64()),
        (Some(x), Some(48))
    );
    assert_eq!(
        (face["w"].as_u64(), face["h"].as_u64()),
        (Some(64), Some(96))
    );
    assert_eq!(face["frames"], 12 + k as u64);
    let det = &face["detection"];
    assert_eq!(det["label"], "face");
    assert_eq!(det["label_id"], 0);
    assert_eq!(det["confidence"], 0.875);
    let bb = &det["bounding_box"];
    approx(&bb["x_min"], x as f64 / f64::from(W));
    approx(&bb["y_min"], 48.0 / f64::from(H));
    approx(&bb["x_max"], (x + 64) as f64 / f64::from(W));
    approx(&bb["y_max"], 144.0 / f64::from(H));
    let expr = &face["expression"];
    assert_eq!(expr["label"], "happy");
    assert_eq!(expr["confidence"], 0.75);
    assert_eq!(expr["raw_label"], "surprise");
    assert_eq!(expr["box_source"], "roi");
    let probs = expr["probabilities"].as_object().unwrap();
    assert_eq!(probs.len(), LABELS.len());
    for (i, label) in LABELS.iter().enumerate() {
        approx(&probs[*label], i as f64 / 32.0);
    }
    let landmarks = face["landmarks"].as_array().unwrap();
    assert_eq!(landmarks.len(), 5);
    for (i, point) in landmarks.iter().enumerate() {
        approx(&point[0], x as f64 + i as f64 + 0.5);
        approx(&point[1], 60.0 + 2.0 * i as f64);
    }
}

#[test]
fn every_field_of_hand_made_metas_and_passthrough() {
    let path = temp_path("fields.jsonl");
    let mut h = harness(&format!("location={} source-id=cam-1", path.display()));
    for (pts, faces) in [(0, 1), (40, 0), (80, 2)] {
        let input = frame(pts, faces);
        let out = h.push_and_pull(input.clone()).expect("buffer out");
        assert_eq!(
            out.as_ptr(),
            input.as_ptr(),
            "the same buffer passes through"
        );
        assert_eq!(out.pts(), Some(gst::ClockTime::from_mseconds(pts)));
        assert_eq!(
            out.iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .count(),
            faces + 1,
            "metas travel downstream"
        );
        assert!(out.map_readable().unwrap().iter().all(|&b| b == 0x5a));
    }
    assert!(h.push_event(gst::event::Eos::new()), "EOS accepted");
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 3, "one line per frame, empty frame included");
    for (line, (pts, faces)) in lines.iter().zip([(0u64, 1usize), (40, 0), (80, 2)]) {
        assert_eq!(line["timestamp"], pts * 1_000_000);
        assert_eq!(
            line["resolution"],
            serde_json::json!({"width": W, "height": H})
        );
        assert_eq!(line["source"], "cam-1");
        let objects = line["objects"].as_array().unwrap();
        assert_eq!(objects.len(), faces, "only `face` ROIs: {line}");
        for (k, face) in objects.iter().enumerate() {
            assert_face(face, k);
        }
    }
    // Key order follows gvametaconvert (serde_json keeps it in the text).
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().nth(1).unwrap().starts_with(&format!(
            r#"{{"timestamp":40000000,"resolution":{{"width":{W},"height":{H}}},"source":"cam-1","objects":[]}}"#
        )),
        "{text}"
    );
    // Probabilities in the classifier's label order.
    assert!(
        text.lines().next().unwrap().contains(
            r#""probabilities":{"angry":0.0,"disgust":0.03125,"fear":0.0625,"happy":0.09375,"sad":0.125,"surprise":0.15625,"neutral":0.1875}"#
        ),
        "{text}"
    );
}

#[test]
fn empty_frames_skipped_without_include_empty_and_source_left_out() {
    let path = temp_path("skip.jsonl");
    let mut h = harness(&format!("location={} include-empty=false", path.display()));
    for (pts, faces) in [(0, 0), (40, 1), (80, 0), (120, 1)] {
        h.push_and_pull(frame(pts, faces)).expect("buffer out");
    }
    h.push_event(gst::event::Eos::new());
    let lines = read_lines(&path);
    let stamps: Vec<u64> = lines
        .iter()
        .map(|l| l["timestamp"].as_u64().unwrap())
        .collect();
    assert_eq!(stamps, [40_000_000, 120_000_000]);
    for line in &lines {
        assert!(line.get("source").is_none(), "no source-id set: {line}");
        assert_face(&line["objects"][0], 0);
    }
}

/// Sets `pipeline` to PLAYING and returns the error message it posts.
fn start_error(pipeline: &str) -> String {
    init();
    let pipeline = gst::parse::launch(pipeline).unwrap();
    assert!(
        pipeline.set_state(gst::State::Playing).is_err(),
        "start must fail"
    );
    let err = support::pop_error(&pipeline, gst::ClockTime::from_seconds(20));
    pipeline.set_state(gst::State::Null).unwrap();
    err.to_string()
}

#[test]
fn no_location_is_an_error() {
    let text = start_error("videotestsrc num-buffers=1 ! analyticsjson ! fakesink");
    assert!(text.contains("location"), "{text}");
}

/// A loopback port with nothing listening on it (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn broker_not_running_fails_start_naming_the_address() {
    let address = format!("127.0.0.1:{}", free_port());
    let text = start_error(&format!(
        "videotestsrc num-buffers=1 ! analyticsjson output=mqtt mqtt-address={address} ! fakesink"
    ));
    assert!(text.contains(&address), "{text}");
    assert!(text.contains("MQTT broker"), "{text}");
}

/// Runs the sample clip through `faceexpression ! <tail> ! fakesink` to EOS.
fn run_clip(tail: &str) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! \
         faceexpression threads=2 ! {tail} ! fakesink sync=false",
        media("WolfgangLanger_Pexels.mp4").display()
    ))
    .unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline starts");
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(300),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 300 s");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("pipeline error: {} ({:?})", e.error(), e.debug());
    }
}

/// The clip's 472 records: ordered, the face present on most frames with track id 1.
fn check_clip_records(lines: &[Value]) {
    assert_eq!(lines.len(), 472, "one line per frame");
    let stamps: Vec<u64> = lines
        .iter()
        .map(|l| l["timestamp"].as_u64().expect("timestamp"))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "ordered timestamps");
    let with_track_1 = lines
        .iter()
        .filter(|l| {
            let objects = l["objects"].as_array().unwrap();
            objects.len() == 1 && objects[0]["id"] == 1
        })
        .count();
    assert!(with_track_1 > 440, "track 1 on {with_track_1}/472 frames");
    let first = lines
        .iter()
        .find_map(|l| l["objects"].as_array().unwrap().first())
        .unwrap();
    assert_eq!(first["detection"]["label"], "face");
    assert_eq!(
        first["expression"]["probabilities"]
            .as_object()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(first["landmarks"].as_array().unwrap().len(), 5);
    let w = lines[0]["resolution"]["width"].as_u64().unwrap();
    assert!(w > 0);
}

#[test]
fn sample_clip_to_file() {
    let path = temp_path("clip.jsonl");
    run_clip(&format!("analyticsjson location={}", path.display()));
    check_clip_records(&read_lines(&path));
}

/// A spawned process killed (and reaped) when the test ends, passing or not.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(name: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not installed: run scripts/setup.sh"))
}

/// Starts Debian's mosquitto on a free loopback port and waits until it accepts connections.
fn start_broker() -> (Spawned, u16) {
    let port = free_port();
    let conf = temp_path("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let broker = Spawned(
        Command::new(find_program("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (broker, port)
}

#[test]
fn sample_clip_to_mqtt_broker_loses_nothing() {
    let (broker, port) = start_broker();
    // Subscribe first (QoS 1); `-d` prints the SUBACK so we know the subscription is live.
    let mut sub = Spawned(
        // Line-buffered: mosquitto_sub's debug lines would otherwise sit in a pipe buffer.
        Command::new(find_program("stdbuf"))
            .arg("-oL")
            .arg(find_program("mosquitto_sub"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", "faceexpression", "-q", "1", "-v", "-d"])
            .args(["-C", "472", "-W", "300"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_sub"),
    );
    let stdout = sub.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("mosquitto_sub subscribed");
        if line.contains("received SUBACK") {
            break;
        }
    }

    // The file copy (first element) is the reference the broker's messages must equal.
    let path = temp_path("clip-mqtt.jsonl");
    run_clip(&format!(
        "analyticsjson location={} ! analyticsjson output=mqtt mqtt-address=127.0.0.1:{port} \
         mqtt-client-id=analyticsjson-test",
        path.display()
    ));

    // Every message was acknowledged by the broker before EOS; mosquitto_sub exits after 472.
    let mut received = Vec::new();
    while received.len() < 472 {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(json) = line.strip_prefix("faceexpression ") {
                    received.push(json.to_owned());
                }
            }
            Err(_) => break,
        }
    }
    drop(sub);
    let _ = reader.join();
    drop(broker);

    let file = std::fs::read_to_string(&path).unwrap();
    let expected: Vec<&str> = file.lines().collect();
    assert_eq!(
        received.len(),
        expected.len(),
        "messages received vs frames"
    );
    for (i, (got, want)) in received.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "message {i} differs from the file's line");
    }
    let lines: Vec<Value> = received
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    check_clip_records(&lines);
}
