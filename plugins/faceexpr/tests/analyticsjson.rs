// SPDX-License-Identifier: MPL-2.0
//! `analyticsjson`: hand-made face metas become one JSON line per frame with every field,
//! buffers pass through untouched, empty frames are written or skipped; the sample clip gives
//! 472 ordered lines; a missing location, or MQTT settings that cannot work, fail the start.
//!
//! `output=mqtt`, against Debian's `mosquitto` (`persistence true`, its own directory, a free
//! port) and a `mosquitto_sub` with a persistent QoS 1 session: the clip's 472 records arrive
//! byte-identical to the file; a broker restarted mid-stream loses nothing (delivery is
//! at-least-once: duplicates are counted, records deduplicated by timestamp), nor does one that
//! forgot the session (no persistence: the records in flight are sent again); an outage longer
//! than `max-queued` drops records with a warning that counts them; a broker that is not there
//! never stalls the video (each frame comes out before the next goes in) and everything not sent
//! is counted at EOS and at stop; with a frozen broker a flush wakes the EOS drain and stop
//! returns; TLS with a client certificate and a password works with
//! certificates made here by `openssl`, and a broker certificate from another CA is refused.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
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

// ---------------------------------------------------------------------------------------------
// MQTT

/// A loopback port with nothing listening on it (bound, then released), below Linux's
/// ephemeral range (32768-60999): no outgoing connection takes it as its own port while a
/// broker restarts, nor connects to itself through it.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 12_000) as u16;
    (0..12_000)
        .map(|_| 20_000 + (start + NEXT.fetch_add(7, Ordering::Relaxed)) % 12_000)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port")
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
    [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/bin",
    ]
    .iter()
    .map(|dir| Path::new(dir).join(name))
    .find(|p| p.is_file())
    .unwrap_or_else(|| panic!("{name} not installed: run scripts/setup.sh"))
}

/// Runs `program args…` to success.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(find_program(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh directory under Cargo's per-target temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = temp_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's mosquitto on a free loopback port with its own configuration, log and persistence
/// directory (`persistence true`). `stop()` ends it with SIGTERM, as a service restart does (it
/// saves its database then), and `start()` runs it again on the same port.
struct Broker {
    dir: PathBuf,
    port: u16,
    persistence: bool,
    process: Option<Spawned>,
}

impl Broker {
    /// `extra`: more configuration lines (authentication, the listener's TLS files).
    fn new(name: &str, extra: &str) -> Broker {
        Broker::with_persistence(name, extra, true)
    }

    fn with_persistence(name: &str, extra: &str, persistence: bool) -> Broker {
        let dir = temp_dir(name);
        let port = free_port();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "user root\npersistence {persistence}\npersistence_location {dir}/\n\
                 log_dest file {dir}/mosquitto.log\nlog_type all\n\
                 listener {port} 127.0.0.1\n{extra}\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        let mut broker = Broker {
            dir,
            port,
            persistence,
            process: None,
        };
        broker.start();
        broker
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        assert!(self.process.is_none(), "already running");
        self.process = Some(Spawned(
            Command::new(find_program("mosquitto"))
                .arg("-c")
                .arg(self.dir.join("mosquitto.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn mosquitto"),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is acknowledged.
    fn freeze(&self) {
        let process = self.process.as_ref().expect("running");
        run("kill", &["-STOP", &process.0.id().to_string()]);
    }

    fn stop(&mut self) {
        let mut process = self.process.take().expect("running");
        let pid = process.0.id().to_string();
        run("kill", &["-TERM", &pid]);
        // In case it was frozen.
        run("kill", &["-CONT", &pid]);
        let status = process.0.wait().unwrap();
        assert!(status.success(), "mosquitto exited with {status}");
        assert!(
            !self.persistence || self.dir.join("mosquitto.db").is_file(),
            "mosquitto saved no database: {}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

/// `mosquitto_sub` on topic `faceexpression` with a persistent session (`-c -i <id>`) at QoS 1:
/// it reconnects by itself after a broker restart, and the broker keeps its messages meanwhile.
struct Subscriber {
    _process: Spawned,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Subscriber {
    fn new(port: u16, id: &str, extra: &[&str]) -> Subscriber {
        let mut process = Spawned(
            // Line-buffered: mosquitto_sub's lines would otherwise sit in a pipe buffer.
            Command::new(find_program("stdbuf"))
                .arg("-oL")
                .arg(find_program("mosquitto_sub"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args([
                    "-t",
                    "faceexpression",
                    "-q",
                    "1",
                    "-c",
                    "-i",
                    id,
                    "-v",
                    "-d",
                ])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn mosquitto_sub"),
        );
        let stdout = process.0.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let subscriber = Subscriber {
            _process: process,
            lines,
        };
        // `-d` prints the SUBACK: the subscription is live.
        subscriber.wait_until("mosquitto_sub subscribed", |lines| {
            lines.iter().any(|l| l.contains("received SUBACK"))
        });
        subscriber
    }

    #[track_caller]
    fn wait_until(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done(&self.lines.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "{what}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every record received so far (the JSON), duplicates included.
    fn records(&self) -> Vec<String> {
        records_in(&self.lines.lock().unwrap())
    }

    /// Waits until `want` distinct records arrived; returns them all, duplicates included.
    #[track_caller]
    fn wait_for(&self, want: usize) -> Vec<String> {
        self.wait_until(&format!("{want} distinct records"), |lines| {
            distinct_timestamps(&records_in(lines)).len() >= want
        });
        self.records()
    }
}

/// The records among `mosquitto_sub -v -d`'s lines (the others are its debug lines).
fn records_in(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("faceexpression ").map(str::to_owned))
        .collect()
}

/// The records' `timestamp`s (ms), without duplicates.
fn distinct_timestamps(records: &[String]) -> BTreeSet<u64> {
    records
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r).unwrap_or_else(|e| panic!("{e}: {r}"));
            v["timestamp"].as_u64().expect("timestamp") / 1_000_000
        })
        .collect()
}

/// Frames `range` (40 ms apart) as timestamps in ms.
fn frames(range: std::ops::Range<u64>) -> BTreeSet<u64> {
    range.map(|i| i * 40).collect()
}

/// What the bus said while a [`Stream`] ran.
#[derive(Debug, Default)]
struct Said {
    warnings: Vec<String>,
    infos: Vec<String>,
}

impl Said {
    fn warning(&self, needle: &str) -> Option<&String> {
        self.warnings.iter().find(|w| w.contains(needle))
    }
}

/// `appsrc ! analyticsjson output=mqtt … ! appsink`. Frames go in one at a time and each must come
/// out before the next goes in: the video provably does not wait on the broker.
struct Stream {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    element: gst::Element,
    next: u64,
    said: Said,
}

impl Stream {
    fn new(props: &str) -> Stream {
        init();
        let pipeline = support::pipeline(&format!(
            "appsrc name=src format=time caps=video/x-raw,format=RGB,width={W},height={H},\
             framerate=25/1 ! analyticsjson name=json output=mqtt {props} ! \
             appsink name=sink sync=false"
        ));
        let stream = Stream {
            src: support::app_src(&pipeline, "src"),
            sink: support::app_sink(&pipeline, "sink"),
            element: pipeline.by_name("json").unwrap(),
            pipeline,
            next: 0,
            said: Said::default(),
        };
        stream
            .pipeline
            .set_state(gst::State::Playing)
            .expect("the pipeline starts");
        stream
    }

    /// Pushes `count` frames, each with one face, 40 ms apart.
    fn push(&mut self, count: u64) {
        for _ in 0..count {
            let pts_ms = self.next * 40;
            self.next += 1;
            self.src.push_buffer(frame(pts_ms, 1)).expect("pushed");
            let sample = self
                .sink
                .try_pull_sample(gst::ClockTime::from_seconds(60))
                .expect("the frame passes through");
            assert_eq!(
                sample.buffer().unwrap().pts(),
                Some(gst::ClockTime::from_mseconds(pts_ms))
            );
        }
    }

    fn stat(&self, field: &str) -> u64 {
        let stats = self.element.property::<gst::Structure>("stats");
        stats
            .get(field)
            .unwrap_or_else(|e| panic!("{field}: {e} in {stats}"))
    }

    /// Waits (bounded) until the broker acknowledged every queued record.
    fn wait_acknowledged(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.stat("unacknowledged") > 0 {
            assert!(
                Instant::now() < deadline,
                "records never acknowledged: {}; {:?}",
                self.element.property::<gst::Structure>("stats"),
                self.said
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Takes bus messages for up to `timeout` or until `until` says so; panics on an error.
    fn listen(&mut self, timeout: Duration, until: impl Fn(&gst::Message, &Said) -> bool) -> bool {
        let bus = self.pipeline.bus().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            let types = [
                gst::MessageType::Eos,
                gst::MessageType::Error,
                gst::MessageType::Warning,
                gst::MessageType::Info,
            ];
            let left = deadline.saturating_duration_since(Instant::now());
            // A zero timeout would give up before looking.
            let msg = if left.is_zero() {
                bus.pop_filtered(&types)
            } else {
                bus.timed_pop_filtered(
                    gst::ClockTime::from_nseconds(left.as_nanos() as u64),
                    &types,
                )
            };
            let Some(msg) = msg else {
                return false;
            };
            match msg.view() {
                gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
                gst::MessageView::Warning(w) => self.said.warnings.push(w.error().to_string()),
                gst::MessageView::Info(i) => self.said.infos.push(i.error().to_string()),
                _ => {}
            }
            if until(&msg, &self.said) {
                return true;
            }
        }
    }

    /// Waits (bounded) for a warning containing `needle`.
    fn wait_warning(&mut self, needle: &str) -> String {
        if let Some(w) = self.said.warning(needle) {
            return w.clone();
        }
        assert!(
            self.listen(Duration::from_secs(60), |_, said| said
                .warning(needle)
                .is_some()),
            "no warning with {needle:?}: {:?}",
            self.said
        );
        self.said.warning(needle).unwrap().clone()
    }

    /// Sends EOS and waits until it came out (after `drain-timeout` at most), stops the
    /// pipeline; returns the stats at EOS and what the bus said.
    fn finish(mut self) -> (gst::Structure, Said) {
        self.src.end_of_stream().expect("EOS");
        assert!(
            self.listen(Duration::from_secs(300), |msg, _| matches!(
                msg.view(),
                gst::MessageView::Eos(_)
            )),
            "no EOS"
        );
        let stats = self.element.property::<gst::Structure>("stats");
        // READY first: the warnings of stop() are still on the bus (NULL flushes it).
        self.pipeline.set_state(gst::State::Ready).unwrap();
        self.listen(Duration::ZERO, |_, _| false);
        self.pipeline.set_state(gst::State::Null).unwrap();
        (stats, self.said)
    }
}

#[track_caller]
fn assert_stats(stats: &gst::Structure, want: [(&str, u64); 4]) {
    for (field, value) in want {
        assert_eq!(
            stats.get::<u64>(field).unwrap(),
            value,
            "{field} in {stats}"
        );
    }
}

#[test]
fn sample_clip_to_mqtt_broker_loses_nothing() {
    let broker = Broker::new("clip-broker", "allow_anonymous true");
    let subscriber = Subscriber::new(broker.port, "clip-sub", &[]);
    // The file copy (first element) is the reference the broker's messages must equal.
    let path = temp_path("clip-mqtt.jsonl");
    run_clip(&format!(
        "analyticsjson location={} ! analyticsjson output=mqtt mqtt-address={} \
         mqtt-client-id=analyticsjson-test drain-timeout=120000",
        path.display(),
        broker.address()
    ));
    let received = subscriber.wait_for(472);
    let file = std::fs::read_to_string(&path).unwrap();
    let expected: Vec<&str> = file.lines().collect();
    assert_eq!(received.len(), expected.len(), "messages vs frames");
    for (i, (got, want)) in received.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "message {i} differs from the file's line");
    }
    let lines: Vec<Value> = received
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    check_clip_records(&lines);
}

/// The broker is restarted (SIGTERM, then started again) while records are in flight and 100
/// more frames pass while it is down: every one of the 300 records reaches the subscriber.
#[test]
fn broker_restart_mid_stream_loses_nothing() {
    let mut broker = Broker::new("restart-broker", "allow_anonymous true");
    let subscriber = Subscriber::new(broker.port, "restart-sub", &[]);
    let address = broker.address();
    let mut stream = Stream::new(&format!(
        "mqtt-address={address} mqtt-client-id=restart-pub drain-timeout=120000"
    ));
    // Connected and delivering; then the broker freezes, 99 records go out unacknowledged, and
    // it restarts with them in flight (whether it had read them or not).
    stream.push(1);
    stream.wait_acknowledged();
    broker.freeze();
    stream.push(99);
    let in_flight = stream.stat("unacknowledged");
    broker.stop();
    stream.push(100);
    broker.start();
    stream.push(100);
    let (stats, said) = stream.finish();

    let received = subscriber.wait_for(300);
    let distinct = distinct_timestamps(&received);
    println!(
        "restart: {in_flight} records unacknowledged at the restart; {} records received, \
         {} distinct, {} duplicates",
        received.len(),
        distinct.len(),
        received.len() - distinct.len()
    );
    assert_eq!(distinct, frames(0..300), "every record, once deduplicated");
    assert_stats(
        &stats,
        [
            ("records", 300),
            ("dropped", 0),
            ("unacknowledged", 0),
            ("acknowledged", 300),
        ],
    );
    assert!(
        said.warning(&format!(
            "Lost the connection to the MQTT broker at {address}"
        ))
        .is_some(),
        "{said:?}"
    );
    assert!(
        said.infos
            .iter()
            .any(|i| i.contains("Connected to the MQTT broker") && i.contains("session resumed")),
        "{said:?}"
    );
    assert!(said.warning("Dropped").is_none(), "{said:?}");
    assert!(said.warning("not acknowledged").is_none(), "{said:?}");
    assert!(said.warning("lost:").is_none(), "{said:?}");
}

/// A broker without persistence forgets our session when it restarts; rumqttc alone would then
/// drop the records it held. All 50 that were in flight are sent again, and acknowledged.
/// (Whether with the DUP flag depends on whether the connection had taken them yet.)
#[test]
fn broker_that_lost_the_session_gets_every_record_again() {
    let mut broker = Broker::with_persistence("amnesic-broker", "allow_anonymous true", false);
    let mut stream = Stream::new(&format!(
        "mqtt-address={} mqtt-client-id=amnesic-pub drain-timeout=120000",
        broker.address()
    ));
    stream.push(1);
    stream.wait_acknowledged();
    broker.freeze();
    stream.push(50);
    broker.stop();
    broker.start();
    let (stats, said) = stream.finish();
    assert_stats(
        &stats,
        [
            ("records", 51),
            ("dropped", 0),
            ("unacknowledged", 0),
            ("acknowledged", 51),
        ],
    );
    assert!(
        said.infos
            .iter()
            .any(|i| i.ends_with("(session new); 50 unacknowledged records sent again")),
        "{said:?}"
    );
    // Each once after the restart: those sent before with the DUP flag, those the connection
    // had not taken yet without.
    let log = broker.log();
    let after_restart = &log[log.rfind("starting").unwrap()..];
    assert_eq!(
        after_restart
            .matches("Received PUBLISH from amnesic-pub")
            .count(),
        50,
        "{after_restart}"
    );
}

/// The broker is down for longer than `max-queued=20` records: of the 50 frames of the outage,
/// the first 20 are queued and sent after the restart, the other 30 are dropped and counted in a
/// warning; the video never waits.
#[test]
fn outage_longer_than_the_queue_drops_with_a_count() {
    let mut broker = Broker::new("outage-broker", "allow_anonymous true");
    let subscriber = Subscriber::new(broker.port, "outage-sub", &[]);
    let address = broker.address();
    let mut stream = Stream::new(&format!(
        "mqtt-address={address} mqtt-client-id=outage-pub max-queued=20 drain-timeout=120000"
    ));
    stream.push(10);
    stream.wait_acknowledged();
    broker.stop();
    stream.push(50);
    assert_eq!(
        (stream.stat("unacknowledged"), stream.stat("dropped")),
        (20, 30)
    );
    let full = stream.wait_warning("The MQTT queue is full");
    broker.start();
    stream.wait_acknowledged();
    // Paced, so that this queue of 20 never fills up again.
    for _ in 0..5 {
        stream.push(10);
        stream.wait_acknowledged();
    }
    let (stats, said) = stream.finish();

    let received = subscriber.wait_for(80);
    let distinct = distinct_timestamps(&received);
    println!(
        "outage: {} records received, {} distinct; warnings: {:?}",
        received.len(),
        distinct.len(),
        said.warnings
    );
    let want: BTreeSet<u64> = frames(0..30).union(&frames(60..110)).copied().collect();
    assert_eq!(distinct, want);
    assert_stats(
        &stats,
        [
            ("records", 80),
            ("dropped", 30),
            ("unacknowledged", 0),
            ("acknowledged", 80),
        ],
    );
    assert!(full.contains(&address), "{full}");
    let dropped = said.warning("Dropped").expect("a dropped-records warning");
    assert_eq!(
        dropped,
        &format!(
            "Dropped 30 records (timestamps 0:00:01.200000000 to 0:00:02.360000000): the MQTT \
             queue was full (max-queued=20 records not yet acknowledged by the broker at \
             {address})"
        )
    );
    assert_eq!(distinct.len() + 30, 110, "received + dropped = pushed");
}

/// No broker at all: frames pass, the failure is a warning naming the address, a full queue
/// drops with a count, EOS waits `drain-timeout=0` and counts what was not sent, stop counts
/// what is lost.
#[test]
fn broker_not_running_warns_and_never_stalls() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut stream = Stream::new(&format!(
        "mqtt-address={address} max-queued=3 drain-timeout=0"
    ));
    let failed = stream.wait_warning("Could not connect to the MQTT broker");
    assert!(failed.contains(&address), "{failed}");
    stream.push(10);
    let (stats, said) = stream.finish();
    assert_stats(
        &stats,
        [
            ("records", 3),
            ("dropped", 7),
            ("unacknowledged", 3),
            ("acknowledged", 0),
        ],
    );
    println!("warnings: {:#?}", said.warnings);
    for needle in [
        "Dropped 7 records (timestamps 0:00:00.120000000 to 0:00:00.360000000)".to_owned(),
        format!(
            "3 records were not acknowledged by the MQTT broker at {address} within drain-timeout=0 ms"
        ),
        format!("3 records are lost: the element stopped before the MQTT broker at {address}"),
    ] {
        assert!(
            said.warning(&needle).is_some(),
            "{needle:?} in {:#?}",
            said.warnings
        );
    }
}

/// A broker that accepts connections and never answers (frozen with SIGSTOP) while EOS waits
/// `drain-timeout=3600000` for it: a flush wakes the EOS at once and counts what was not sent,
/// and stopping the pipeline returns and counts what is lost.
#[test]
fn frozen_broker_neither_flush_nor_stop_waits() {
    let broker = Broker::new("frozen-broker", "allow_anonymous true");
    let mut stream = Stream::new(&format!(
        "mqtt-address={} mqtt-client-id=frozen-pub drain-timeout=3600000",
        broker.address()
    ));
    stream.push(1);
    stream.wait_acknowledged();
    broker.freeze();
    stream.push(5);
    // EOS enters the element on appsrc's streaming thread and waits there.
    let pad = stream.element.static_pad("sink").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(e)) = &info.data
            && e.type_() == gst::EventType::Eos
        {
            let _ = tx.lock().unwrap().send(());
        }
        gst::PadProbeReturn::Ok
    });
    stream.src.end_of_stream().expect("EOS");
    rx.recv_timeout(Duration::from_secs(60))
        .expect("EOS reached the element");
    assert!(pad.send_event(gst::event::FlushStart::new()));
    let unsent = stream.wait_warning("were not acknowledged");
    assert!(unsent.starts_with("5 records"), "{unsent}");
    assert!(pad.send_event(gst::event::FlushStop::new(true)));
    stream.pipeline.set_state(gst::State::Ready).unwrap();
    let lost = stream.wait_warning("records are lost");
    assert!(lost.starts_with("5 records"), "{lost}");
    stream.pipeline.set_state(gst::State::Null).unwrap();
}

/// Settings that cannot work fail the start, naming what is wrong.
#[test]
fn bad_mqtt_settings_fail_the_start() {
    for (props, needle) in [
        ("mqtt-ca-file=/nonexistent/ca.pem", "/nonexistent/ca.pem"),
        (
            "mqtt-cert-file=/tmp/c.pem mqtt-key-file=/tmp/k.pem",
            "need TLS",
        ),
        ("mqtt-topic=faces/#", "topic"),
        ("mqtt-address=localhost", "localhost"),
        ("mqtt-password=secret", "username"),
    ] {
        let text = start_error(&format!(
            "videotestsrc num-buffers=1 ! analyticsjson output=mqtt {props} ! fakesink"
        ));
        assert!(text.contains(needle), "{props}: {text}");
    }
}

/// Certificates made with the openssl command-line tool: a CA, a server certificate for
/// 127.0.0.1 and a client certificate signed by it, and an unrelated CA.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn new(dir: &Path) -> Certificates {
        let path = |name: &str| dir.join(name).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let mut args = vec!["req", "-x509", "-days", "2", "-subj"];
            let subject = format!("/CN=analyticsjson test {ca}");
            let (key, cert) = (path(&format!("{ca}.key")), path(&format!("{ca}.pem")));
            args.extend([subject.as_str(), "-keyout", &key, "-out", &cert]);
            args.extend(ec);
            run("openssl", &args);
        }
        for (name, extensions) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            let ext = path(&format!("{name}.ext"));
            std::fs::write(&ext, extensions).unwrap();
            let (key, csr, cert) = (
                path(&format!("{name}.key")),
                path(&format!("{name}.csr")),
                path(&format!("{name}.pem")),
            );
            let subject = format!("/CN=analyticsjson test {name}");
            let mut args = vec!["req", "-subj", &subject, "-keyout", &key, "-out", &csr];
            args.extend(ec);
            run("openssl", &args);
            run(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-in",
                    &csr,
                    "-CA",
                    &path("ca.pem"),
                    "-CAkey",
                    &path("ca.key"),
                    "-CAcreateserial",
                    "-extfile",
                    &ext,
                    "-out",
                    &cert,
                ],
            );
        }
        Certificates {
            dir: dir.to_owned(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// TLS with a client certificate, a username and a password: the records arrive; the same broker
/// verified with another CA is refused (a warning, the record counted as not sent).
#[test]
fn tls_with_client_certificate_and_password() {
    let dir = temp_dir("tls");
    let certs = Certificates::new(&dir);
    let passwd = dir.join("passwd").display().to_string();
    run(
        "mosquitto_passwd",
        &["-c", "-b", &passwd, "camera", "s3cret"],
    );
    let broker = Broker::new(
        "tls-broker",
        &format!(
            "allow_anonymous false\npassword_file {passwd}\ncafile {}\ncertfile {}\nkeyfile {}\n\
             require_certificate true\n",
            certs.path("ca.pem"),
            certs.path("server.pem"),
            certs.path("server.key")
        ),
    );
    let client_tls = [
        "--cafile",
        &certs.path("ca.pem"),
        "--cert",
        &certs.path("client.pem"),
        "--key",
        &certs.path("client.key"),
        "-u",
        "camera",
        "-P",
        "s3cret",
        // The subscriber only reads; the publisher under test checks the name.
        "--insecure",
    ]
    .map(str::to_owned);
    let client_tls: Vec<&str> = client_tls.iter().map(String::as_str).collect();
    let subscriber = Subscriber::new(broker.port, "tls-sub", &client_tls);
    let address = broker.address();
    let tls = format!(
        "mqtt-address={address} mqtt-cert-file={} mqtt-key-file={} mqtt-username=camera \
         mqtt-password=s3cret",
        certs.path("client.pem"),
        certs.path("client.key")
    );

    let mut stream = Stream::new(&format!(
        "{tls} mqtt-ca-file={} mqtt-client-id=tls-pub drain-timeout=120000",
        certs.path("ca.pem")
    ));
    stream.push(20);
    let (stats, said) = stream.finish();
    assert_eq!(distinct_timestamps(&subscriber.wait_for(20)), frames(0..20));
    assert_eq!(stats.get::<u64>("acknowledged").unwrap(), 20, "{stats}");
    assert!(said.warnings.is_empty(), "{said:?}");

    let mut stream = Stream::new(&format!(
        "{tls} mqtt-ca-file={} mqtt-client-id=tls-wrong-ca drain-timeout=0",
        certs.path("other-ca.pem")
    ));
    let refused = stream.wait_warning("Could not connect to the MQTT broker");
    println!("wrong CA: {refused}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    stream.push(1);
    let (stats, said) = stream.finish();
    assert_stats(
        &stats,
        [
            ("records", 1),
            ("dropped", 0),
            ("unacknowledged", 1),
            ("acknowledged", 0),
        ],
    );
    assert!(said.warning("1 records are lost").is_some(), "{said:?}");

    let mut stream = Stream::new(&format!(
        "{} mqtt-ca-file={} mqtt-client-id=tls-wrong-password drain-timeout=0",
        tls.replace("mqtt-password=s3cret", "mqtt-password=wrong"),
        certs.path("ca.pem")
    ));
    let refused = stream.wait_warning("Could not connect to the MQTT broker");
    println!("wrong password: {refused}");
    assert!(refused.contains("refused"), "{refused}");
    stream.finish();
    assert_eq!(subscriber.records().len(), 20, "nothing more arrived");
}
