// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the plugin tests (`plugins/*/tests/*.rs`); a dev-dependency only.
//!
//! * Set-up: [`init_once`] initialises GStreamer and registers a plugin statically, once per
//!   process; [`media`], [`provisioned`], [`tmp_dir`] and [`copy_to`] find and prepare files.
//! * Pipelines: [`pipeline`], [`app_sink`], [`app_src`], [`reach`] (a bounded state change),
//!   [`harness_with_bus`].
//! * Bus: [`pop_error`], [`start_fails`], [`play_to_eos`], [`assert_no_error`].
//! * Robustness: [`threads_and_fds`], [`state_storm`], [`in_child`].
//! * Audio: [`s16le_samples`], [`rms`], [`f32le_peak`].
//!
//! Nothing here asserts on what an element produces: the assertions stay in the test files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

/// Initialises GStreamer and registers a plugin statically (`gst<p>::plugin_register_static`),
/// each at most once per process whatever the number of calls and threads.
pub fn init_once(register: fn() -> Result<(), glib::BoolError>) {
    static GST: Once = Once::new();
    static REGISTERED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    GST.call_once(|| gst::init().expect("initialise GStreamer"));
    let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    let key = register as usize;
    if !registered.contains(&key) {
        register().expect("register the plugin statically");
        registered.push(key);
    }
}

/// `path`, asserted to exist: provisioned files are the test command's job, a test never skips.
pub fn provisioned(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} missing: run scripts/setup.sh",
        path.display()
    );
    path
}

/// A provisioned test medium: `<data dir>/media/<name>`.
pub fn media(name: &str) -> PathBuf {
    provisioned(neural_media::assets::data_dir().join("media").join(name))
}

/// A directory `<target_tmpdir>/<name>-<pid>`, created; pass `env!("CARGO_TARGET_TMPDIR")`
/// (Cargo sets it for integration tests only, so the caller has to).
pub fn tmp_dir(target_tmpdir: &str, name: &str) -> PathBuf {
    let dir = Path::new(target_tmpdir).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the test's temp dir");
    dir
}

/// Copies `src` to `dst`, only its first `len` bytes when given (a truncated file); returns `dst`.
pub fn copy_to(src: &Path, dst: &Path, len: Option<usize>) -> PathBuf {
    let data = std::fs::read(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let len = len.map_or(data.len(), |l| l.min(data.len()));
    std::fs::write(dst, &data[..len]).unwrap_or_else(|e| panic!("{}: {e}", dst.display()));
    dst.to_path_buf()
}

/// `gst::parse::launch(description)` as a pipeline (GStreamer must be initialised).
pub fn pipeline(description: &str) -> gst::Pipeline {
    gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// The `appsink` called `name` in `pipeline`.
pub fn app_sink(pipeline: &gst::Pipeline, name: &str) -> gst_app::AppSink {
    pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSink>()
        .expect("an appsink")
}

/// The `appsrc` called `name` in `pipeline`.
pub fn app_src(pipeline: &gst::Pipeline, name: &str) -> gst_app::AppSrc {
    pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSrc>()
        .expect("an appsrc")
}

/// A `Harness` around a new `factory` element, and a bus for the element's messages (a lone
/// element has none of its own).
pub fn harness_with_bus(factory: &str) -> (gst_check::Harness, gst::Element, gst::Bus) {
    let h = gst_check::Harness::new(factory);
    let element = h.element().expect("the harnessed element");
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    (h, element, bus)
}

/// An ERROR message taken off a bus.
#[derive(Debug)]
pub struct BusError {
    error: glib::Error,
    debug: Option<String>,
}

impl BusError {
    /// The error (its message names the file, the property, …).
    pub fn error(&self) -> &glib::Error {
        &self.error
    }

    /// The element's debug string.
    pub fn debug(&self) -> Option<&str> {
        self.debug.as_deref()
    }
}

/// `error (Some("debug"))`, the form the tests print and search.
impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.error, self.debug)
    }
}

/// Waits up to `timeout` for an ERROR message on `element`'s bus; panics without one.
pub fn pop_error(element: &impl IsA<gst::Element>, timeout: gst::ClockTime) -> BusError {
    let msg = element
        .bus()
        .expect("a bus")
        .timed_pop_filtered(timeout, &[gst::MessageType::Error])
        .expect("error message");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    BusError {
        error: err.error(),
        debug: err.debug().map(|d| d.to_string()),
    }
}

/// Tries to start `pipeline`: the state change must fail with an ERROR message on the bus
/// (waited for up to `timeout`). Stops the pipeline and returns the error.
pub fn start_fails(pipeline: &impl IsA<gst::Element>, timeout: gst::ClockTime) -> BusError {
    assert!(
        pipeline.set_state(gst::State::Paused).is_err(),
        "state change should fail"
    );
    let err = pop_error(pipeline, timeout);
    pipeline
        .set_state(gst::State::Null)
        .expect("stop after the error");
    err
}

/// Sets `pipeline` (a finite source) to PLAYING and waits up to `timeout` for EOS; panics on an
/// ERROR. Leaves the pipeline playing, so the caller can look at its sinks before stopping it.
pub fn play_to_eos(pipeline: &gst::Pipeline, timeout: gst::ClockTime) {
    pipeline
        .set_state(gst::State::Playing)
        .expect("the pipeline starts");
    let msg = pipeline
        .bus()
        .expect("a bus")
        .timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("EOS");
    if let gst::MessageView::Error(err) = msg.view() {
        panic!("error: {} ({:?})", err.error(), err.debug());
    }
}

/// Sets `state` and waits (bounded, 20 s) until the pipeline is there.
pub fn reach(pipeline: &gst::Pipeline, state: gst::State) {
    pipeline
        .set_state(state)
        .unwrap_or_else(|e| panic!("set {state:?}: {e}"));
    let (result, current, pending) = pipeline.state(gst::ClockTime::from_seconds(20));
    assert!(
        result.is_ok() && current == state,
        "stuck going to {state:?}: {result:?}, at {current:?}, pending {pending:?}"
    );
}

/// Fails on an ERROR message on the bus (dropping the other messages).
pub fn assert_no_error(pipeline: &gst::Pipeline) {
    if let Some(msg) = pipeline
        .bus()
        .expect("a bus")
        .pop_filtered(&[gst::MessageType::Error])
    {
        let gst::MessageView::Error(err) = msg.view() else {
            unreachable!()
        };
        panic!("error: {} ({:?})", err.error(), err.debug());
    }
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .count()
}

/// This process's (threads, open file descriptors), from `/proc/self`.
pub fn threads_and_fds() -> (usize, usize) {
    (
        count_entries("/proc/self/task"),
        count_entries("/proc/self/fd"),
    )
}

/// A state storm on `pipeline`: after a warm-up cycle (ONNX Runtime and GStreamer's thread pools
/// are created once per process), `loading_cycles` NULL→PLAYING→NULL, then `pause_cycles`
/// PAUSED↔PLAYING (`each_pause(i)` runs before the i-th), then NULL. Asserts no ERROR on the bus
/// and at most 4 more threads and 4 more file descriptors than after the warm-up.
pub fn state_storm(
    pipeline: &gst::Pipeline,
    label: &str,
    loading_cycles: usize,
    pause_cycles: usize,
    mut each_pause: impl FnMut(usize),
) {
    reach(pipeline, gst::State::Playing);
    reach(pipeline, gst::State::Null);
    let (threads, fds) = threads_and_fds();

    let start = Instant::now();
    for _ in 0..loading_cycles {
        reach(pipeline, gst::State::Playing);
        reach(pipeline, gst::State::Null);
    }
    let loading = start.elapsed();
    reach(pipeline, gst::State::Playing);
    for i in 0..pause_cycles {
        each_pause(i);
        reach(pipeline, gst::State::Paused);
        reach(pipeline, gst::State::Playing);
    }
    reach(pipeline, gst::State::Null);
    assert_no_error(pipeline);
    let (threads_after, fds_after) = threads_and_fds();
    eprintln!(
        "{label}: {loading_cycles} NULL→PLAYING→NULL in {loading:?}, {pause_cycles} \
         PAUSED↔PLAYING: threads {threads}→{threads_after}, fds {fds}→{fds_after}"
    );
    assert!(
        threads_after <= threads + 4,
        "threads {threads}→{threads_after}"
    );
    assert!(fds_after <= fds + 4, "fds {fds}→{fds_after}");
}

/// Runs the test `test` of this test binary again in a child process with `env` set (for what is
/// global to a process, such as the ONNX Runtime library), its stdout in `out_dir/<test>.out`,
/// bounded to 120 s. Returns true in the child, false in the parent once the child passed.
pub fn in_child(test: &str, env: &[(&str, &str)], out_dir: &Path) -> bool {
    const CHILD: &str = "NEURAL_MEDIA_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let out = out_dir.join(format!("{test}.out"));
    let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(std::fs::File::create(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display())))
        .stderr(std::process::Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn the test binary");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child process timed out");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    assert!(
        status.success() && stdout.contains("1 passed"),
        "child process: {status}\n{stdout}"
    );
    false
}

/// The samples of an interleaved S16LE buffer.
pub fn s16le_samples(buffer: &gst::Buffer) -> Vec<i16> {
    let map = buffer.map_readable().expect("a readable buffer");
    map.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Root mean square of S16 samples (0 for none).
pub fn rms(samples: &[i16]) -> f64 {
    (samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt()
}

/// The largest magnitude among F32LE samples (0 for none).
pub fn f32le_peak(data: &[u8]) -> f32 {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).abs())
        .fold(0.0f32, f32::max)
}

/// A buffer of `data` at `pts`, lasting `duration`.
pub fn timed(data: Vec<u8>, pts: gst::ClockTime, duration: gst::ClockTime) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_slice(data);
    {
        let b = buffer.get_mut().expect("a new buffer is writable");
        b.set_pts(pts);
        b.set_duration(duration);
    }
    buffer
}

/// While a model run of `element` is held by the engine's test hook: its
/// `active-execution-provider` reads `cpu` at once, and stopping `pipeline` cancels the run and
/// returns (the hold is still in place, so the run could not have ended by itself).
pub fn stop_while_held(
    pipeline: &gst::Pipeline,
    element: &gst::Element,
    hold: &neural_media::engine::testing::HoldGuard,
) {
    assert_eq!(
        element
            .property::<Option<String>>("active-execution-provider")
            .as_deref(),
        Some("cpu")
    );
    pipeline
        .set_state(gst::State::Null)
        .expect("stops while the run is held");
    assert_eq!(hold.held(), 0);
    assert_eq!(neural_media::engine::stats().cancelled, 1);
}
