// SPDX-License-Identifier: MPL-2.0
//! RTSP in and out, live: `pipelines/rtsp-camera.py` serves the sample clip in a loop on a free
//! localhost port as the "camera", `pipelines/rtsp-annotate.py` analyses it and serves the
//! annotated stream over RTSP while writing JSON lines. The test is a client of both ends.
//!
//! * The served stream carries the overlay: each frame that the client receives is matched, by
//!   the camera's `--mark` strip (the frame's position in the clip), with the same frame decoded
//!   from the clip file; the pixels that differ strongly lie around the faces that the JSON lines
//!   give, not elsewhere. The same strip carries the camera's wall-clock time: the end-to-end
//!   latency (camera → analysis → served stream → decoded by a client) is printed, not asserted.
//! * A camera that drops (killed) and comes back on the same port, then hangs (SIGSTOP: the
//!   connection stays open, no frame comes) and runs again: each time the analysis resumes, with
//!   its tracks reset (the face starts again as track 1 with a fresh frame count).
//!
//! The scripts load the plugins from `target/<profile>` (scripts/test.sh builds them first).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gst::prelude::*;

mod common;
use common::{out_file, plugin_dir, repo, sample_video};

/// Generous: a script that has not reached this point by then is stuck.
const STARTUP: Duration = Duration::from_secs(60);
/// How long the client watches the annotated stream (the issue asks for at least 20 s live).
const WATCH: Duration = Duration::from_secs(20);

// rtsp-camera.py --mark: 4 sync blocks, then 20 bits of position (ms) and 32 bits of wall clock
// (ms), 8×8 px each, along the bottom-left edge of the luma plane.
const MARK_BLOCK: usize = 8;
const MARK_SYNC: usize = 4;
const MARK_BITS: usize = 52;

/// A script in the background, its stderr read line by line; killed when dropped, so that a
/// failing test leaves nothing running.
struct Script {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Script {
    fn start(name: &'static str, args: &[&str]) -> Script {
        let mut child = Command::new(repo().join("pipelines").join(name))
            .args(args)
            .env("GST_PLUGIN_PATH", plugin_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} could not start: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Script {
            name,
            child,
            lines,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The next status line that contains `text`.
    fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "{}: no line with {text:?} within {timeout:?}:\n{}",
                    self.name,
                    self.log()
                ),
            }
        }
    }

    /// The address it serves, from its "serving rtsp://127.0.0.1:PORT/PATH" line.
    fn url(&self) -> String {
        let line = self.wait_for("serving rtsp://", STARTUP);
        let (_, url) = line.split_once("serving ").expect("serving line");
        url.trim().to_string()
    }

    /// Sends a signal (`kill -<signal>`).
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// Ctrl-C (the scripts stop cleanly on it) and the exit status.
    fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the script") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running 30 s after SIGINT:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_of(url: &str) -> &str {
    // rtsp://127.0.0.1:PORT/path
    let rest = url.trim_start_matches("rtsp://");
    let host_port = rest.split('/').next().expect("host:port");
    host_port.rsplit(':').next().expect("port")
}

/// The JSON lines written so far (a partial last line is left out).
fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn faces(line: &serde_json::Value) -> &[serde_json::Value] {
    line["objects"].as_array().map_or(&[], |o| o.as_slice())
}

fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// An RGB frame, rows packed.
struct Rgb {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Rgb {
    fn from_sample(sample: &gst::Sample) -> Option<Rgb> {
        let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        let buffer = sample.buffer()?;
        let map = buffer.map_readable().ok()?;
        let (width, height) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0] as usize;
        let mut data = Vec::with_capacity(width * height * 3);
        for row in 0..height {
            data.extend_from_slice(map.get(row * stride..row * stride + width * 3)?);
        }
        Some(Rgb {
            width,
            height,
            data,
        })
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.width + x) * 3;
        [self.data[at], self.data[at + 1], self.data[at + 2]]
    }

    /// The mean luma of the inner 4×4 pixels of block `i` of the mark strip.
    fn block_luma(&self, i: usize) -> f64 {
        let (x0, y0) = (i * MARK_BLOCK + 2, self.height - MARK_BLOCK + 2);
        let mut sum = 0.0;
        for y in y0..y0 + 4 {
            for x in x0..x0 + 4 {
                let [r, g, b] = self.pixel(x, y);
                sum += 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
            }
        }
        sum / 16.0
    }

    /// The camera's mark: (position of the frame in the clip in ms, wall clock in ms mod 2^32).
    fn mark(&self) -> Option<(u64, u64)> {
        if self.width < (MARK_SYNC + MARK_BITS) * MARK_BLOCK || self.height < MARK_BLOCK {
            return None;
        }
        for i in 0..MARK_SYNC {
            let luma = self.block_luma(i);
            let wrong = if i % 2 == 1 {
                luma < 170.0
            } else {
                luma > 85.0
            };
            if wrong {
                return None;
            }
        }
        let data = (0..MARK_BITS).fold(0u64, |data, i| {
            data << 1 | u64::from(self.block_luma(MARK_SYNC + i) > 128.0)
        });
        Some((data >> 32, data & 0xffff_ffff))
    }
}

/// Runs `description` (ending in `appsink name=sink`) and hands each sample to `on_sample`
/// until it returns false, EOS, or `timeout`; fails on an error.
fn pull_samples(
    description: &str,
    timeout: Duration,
    mut on_sample: impl FnMut(&gst::Sample) -> bool,
) {
    let pipeline = gst::parse::launch(description)
        .expect("pipeline description")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .expect("appsink named sink")
        .downcast::<gst_app::AppSink>()
        .expect("an appsink");
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
    let bus = pipeline.bus().expect("bus");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            let _ = pipeline.set_state(gst::State::Null);
            panic!("{description}: {msg:?}");
        }
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            Some(sample) if !on_sample(&sample) => break,
            None if sink.is_eos() => break,
            _ => {}
        }
    }
    pipeline
        .set_state(gst::State::Null)
        .expect("pipeline stops");
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn annotated_rtsp_stream_carries_the_overlay_and_json_lines() {
    gst::init().expect("GStreamer");
    let clip = sample_video();
    let json = out_file("rtsp-faces.jsonl");
    let camera = Script::start(
        "rtsp-camera.py",
        &[clip.to_str().expect("UTF-8 path"), "--port", "0", "--mark"],
    );
    let camera_url = camera.url();
    let mut annotate = Script::start(
        "rtsp-annotate.py",
        &[
            &camera_url,
            "--port",
            "0",
            "--json",
            json.to_str().expect("UTF-8 path"),
        ],
    );
    let served = annotate.url();
    annotate.wait_for("camera connected", STARTUP);

    // Watch the annotated stream as a client for WATCH: every frame's mark, and a sample of
    // frames (every 4th, at most 60) kept for the comparison with the clip.
    let mut latencies = Vec::new();
    let mut kept: Vec<(u64, Rgb)> = Vec::new();
    let (mut received, mut marked) = (0, 0);
    let started = Instant::now();
    pull_samples(
        &format!(
            "rtspsrc location={served} protocols=tcp latency=0 ! rtph264depay ! avdec_h264 \
             ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false"
        ),
        WATCH,
        |sample| {
            let now = wall_clock_ms();
            received += 1;
            let Some(frame) = Rgb::from_sample(sample) else {
                return true;
            };
            let Some((position, sent)) = frame.mark() else {
                return true;
            };
            marked += 1;
            // The first seconds include the connection's start-up.
            if started.elapsed() > Duration::from_secs(3) {
                latencies.push((now.wrapping_sub(sent) & 0xffff_ffff) as i64);
            }
            if marked % 4 == 0 && kept.len() < 60 {
                kept.push((position, frame));
            }
            true
        },
    );
    let status = annotate.interrupt();
    assert!(
        status.success(),
        "rtsp-annotate.py: {status}\n{}",
        annotate.log()
    );
    drop(camera);

    assert!(
        marked >= 20,
        "{marked} of {received} frames received in {WATCH:?} carry the camera's mark:\n{}",
        annotate.log()
    );
    latencies.sort_unstable();
    if !latencies.is_empty() {
        println!(
            "end-to-end latency (camera clock → decoded from the served stream), {} frames: \
             median {} ms, p90 {} ms, max {} ms; {received} frames received in {WATCH:?}",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            percentile(&latencies, 1.0)
        );
    }

    // JSON lines: one per analysed frame, in time order, most with the clip's face.
    let lines = json_lines(&json);
    let _ = std::fs::remove_file(&json);
    let stamps: Vec<u64> = lines
        .iter()
        .map(|l| l["timestamp"].as_u64().expect("timestamp"))
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "timestamps in order"
    );
    let labelled = lines
        .iter()
        .filter(|l| {
            faces(l)
                .iter()
                .any(|f| f["expression"]["label"].is_string())
        })
        .count();
    assert!(
        labelled >= 50 && labelled * 10 >= lines.len() * 8,
        "{labelled} of {} JSON lines with a labelled face",
        lines.len()
    );
    // Where the overlay may draw: the faces' boxes, widened for the label above and the line.
    let (mut x0, mut y0, mut x1, mut y1) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
    for face in lines.iter().flat_map(faces) {
        let n = |k: &str| face[k].as_i64().expect("box in pixels");
        x0 = x0.min(n("x") - 8);
        y0 = y0.min(n("y") - 30);
        x1 = x1.max(n("x") + n("w") + 8);
        y1 = y1.max(n("y") + n("h") + 8);
    }

    // The served frames against the same frames of the clip.
    let mut pending = kept;
    let mut compared = Vec::new();
    pull_samples(
        &format!(
            "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert \
             ! video/x-raw,format=RGB ! appsink name=sink sync=false",
            clip.display()
        ),
        Duration::from_secs(120),
        |sample| {
            let Some(position) = sample
                .buffer()
                .and_then(|b| b.pts())
                .map(|t| t.mseconds() % (1 << 20))
            else {
                return true;
            };
            let original = Rgb::from_sample(sample).expect("an RGB frame");
            pending.retain(|(at, served)| {
                if *at != position {
                    return true;
                }
                // Strong differences (an overlay, not the two H.264 generations in between),
                // above the mark strip; inside and outside the faces' region.
                let (mut inside, mut outside) = (0usize, 0usize);
                for y in 0..original.height - 2 * MARK_BLOCK {
                    for x in 0..original.width {
                        let (a, b) = (original.pixel(x, y), served.pixel(x, y));
                        let strong = (0..3).any(|c| a[c].abs_diff(b[c]) > 80);
                        if strong {
                            let (x, y) = (x as i64, y as i64);
                            if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                                inside += 1;
                            } else {
                                outside += 1;
                            }
                        }
                    }
                }
                compared.push((position, inside, outside));
                false
            });
            !pending.is_empty()
        },
    );
    println!(
        "faces' region ({x0}, {y0})-({x1}, {y1}); (position ms, strong differences inside, outside): {compared:?}"
    );
    assert!(
        compared.len() >= 5,
        "only {} served frames matched a frame of the clip",
        compared.len()
    );
    // A box of ~200×260 px drawn 2 px wide is ~1800 px, plus its label.
    let with_overlay = compared.iter().filter(|c| c.1 >= 300).count();
    assert!(
        with_overlay * 10 >= compared.len() * 7,
        "the overlay shows on {with_overlay} of {} compared frames: {compared:?}",
        compared.len()
    );
    let elsewhere = compared.iter().map(|c| c.2).max().unwrap_or(0);
    assert!(
        elsewhere < 300,
        "strong differences away from the faces (at most {elsewhere} px): {compared:?}"
    );
}

/// Where a track's frame count starts again (the tracks were reset, and a face came back with
/// an id it had before): the index of each such line, with that track's count before it.
fn resets(lines: &[serde_json::Value]) -> Vec<(usize, u64)> {
    let mut found = Vec::new();
    let mut counts = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        for face in faces(line) {
            let id = face["id"].as_u64().expect("track id");
            let frames = face["frames"].as_u64().expect("frames");
            if let Some(&last) = counts.get(&id).filter(|&&last| frames < last) {
                found.push((i, last));
                counts.clear();
            }
            counts.insert(id, frames);
        }
    }
    found
}

#[test]
fn analysis_resumes_with_tracks_reset_when_the_camera_comes_back() {
    let clip = sample_video();
    let clip = clip.to_str().expect("UTF-8 path");
    let json = out_file("rtsp-reconnect.jsonl");
    let mut camera = Script::start("rtsp-camera.py", &[clip, "--port", "0"]);
    let camera_url = camera.url();
    let json_arg = json.to_str().expect("UTF-8 path");
    let mut annotate = Script::start(
        "rtsp-annotate.py",
        &[
            &camera_url,
            "--port",
            "0",
            "--json",
            json_arg,
            "--stall-timeout",
            "3",
        ],
    );
    annotate.wait_for("camera connected (connection 1)", STARTUP);
    // Waits until the face has been tracked for `frames` frames since the `resets`-th reset.
    let tracked = |resets_seen: usize, frames: u64| {
        let deadline = Instant::now() + STARTUP;
        loop {
            let lines = json_lines(&json);
            let found = resets(&lines);
            let since = match resets_seen {
                0 => Some(0),
                n => found.get(n - 1).map(|&(at, _)| at),
            };
            let count = since.and_then(|at| {
                let faces = lines[at..].iter().flat_map(faces);
                faces.filter_map(|f| f["frames"].as_u64()).max()
            });
            if count >= Some(frames) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no face tracked for {frames} frames after {resets_seen} resets within \
                 {STARTUP:?} (resets so far {found:?}):\n{}",
                annotate.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    tracked(0, 30);

    // The camera drops (killed: no goodbye), stays away a while, and comes back on its port.
    let port = port_of(&camera_url).to_string();
    camera.child.kill().expect("kill the camera");
    let _ = camera.child.wait();
    annotate.wait_for("camera lost", STARTUP);
    std::thread::sleep(Duration::from_secs(2));
    let before = json_lines(&json).len();
    let camera = Script::start("rtsp-camera.py", &[clip, "--port", &port]);
    assert_eq!(
        camera.url(),
        camera_url,
        "the camera is back at its address"
    );
    annotate.wait_for("camera connected (connection", STARTUP);
    tracked(1, 20);

    // Then it hangs (stopped: the connection stays open, nothing comes). The stall timeout gives
    // it up; when it runs again the analysis resumes once more.
    camera.signal("STOP");
    annotate.wait_for("camera lost (no frame for", STARTUP);
    camera.signal("CONT");
    annotate.wait_for("camera connected (connection", STARTUP);
    tracked(2, 20);

    let status = annotate.interrupt();
    assert!(
        status.success(),
        "rtsp-annotate.py: {status}\n{}",
        annotate.log()
    );
    drop(camera);

    let lines = json_lines(&json);
    let _ = std::fs::remove_file(&json);
    // One reset per reconnection, the first after every line written while the camera was away
    // (the count grew while the camera was there). After each, the face starts again as track 1,
    // counted from its first frame.
    let log = annotate.log();
    let connections = log.matches("camera connected (connection").count();
    let found = resets(&lines);
    assert_eq!(
        found.len(),
        connections - 1,
        "one reset of the tracks per reconnection: {found:?}\n{log}"
    );
    assert!(
        found[0].0 >= before && found[0].1 >= 30,
        "first reset {:?}, {before} lines written before the camera came back",
        found[0]
    );
    for &(at, _) in &found {
        let first = faces(&lines[at]).first().expect("a face at the reset");
        assert_eq!(first["id"].as_u64(), Some(1), "{first}");
        assert!(first["frames"].as_u64() <= Some(3), "{first}");
    }
    // The timestamps go on (running time) rather than starting again.
    let stamps: Vec<u64> = lines
        .iter()
        .map(|l| l["timestamp"].as_u64().expect("timestamp"))
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "timestamps in order across the reconnections"
    );
}
