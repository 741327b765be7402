// SPDX-License-Identifier: MPL-2.0
//! The face scripts in `pipelines/` run headless as a user would run them and print what they
//! promise: `camera-to-screen.sh` reaches EOS into a `fakesink`, `print-expression-changes.py`
//! reports the sample video's face as track 1, `upstream-faces.sh` labels OpenCV facedetect's
//! faces.
//!
//! They load the plugins from `target/<profile>` (scripts/test.sh builds them first).

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{plugin_dir, repo, sample_video};

/// A script that has not finished by then is stuck (a live source that never stops).
const TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `pipelines/<script>` with the plugins of this build, killing it after [`TIMEOUT`];
/// asserts that it succeeded and returns its stdout and stderr.
fn run(script: &str, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut child = Command::new(repo().join("pipelines").join(script))
        .args(args)
        .envs(env.iter().copied())
        .env("GST_PLUGIN_PATH", plugin_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{script} could not start: {e}"));
    // Drain both pipes while waiting, so that a chatty script cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).map(|_| text)
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        stderr.read_to_end(&mut text).map(|_| text)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} still running after {TIMEOUT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        status,
        stdout: out_reader.join().expect("stdout reader").expect("stdout"),
        stderr: err_reader.join().expect("stderr reader").expect("stderr"),
    };
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

#[test]
fn camera_to_screen_test_pattern_reaches_eos_headless() {
    let (stdout, stderr) = run(
        "camera-to-screen.sh",
        &["--test"],
        &[("SINK", "fakesink"), ("NUM_BUFFERS", "60")],
    );
    assert!(
        stdout.contains("Got EOS from element"),
        "no EOS:\n{stdout}\n{stderr}"
    );
    // gst-launch reports errors and warnings from the elements on its output.
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("WARNING"),
        "{stderr}"
    );
}

#[test]
fn camera_to_screen_plays_a_file_headless() {
    let video = sample_video();
    let (stdout, stderr) = run(
        "camera-to-screen.sh",
        &["--file", video.to_str().expect("UTF-8 path")],
        &[("SINK", "fakesink"), ("NUM_BUFFERS", "30")],
    );
    assert!(
        stdout.contains("Got EOS from element"),
        "no EOS:\n{stdout}\n{stderr}"
    );
}

#[test]
fn print_expression_changes_reports_track_1_on_the_sample() {
    let (stdout, stderr) = run("print-expression-changes.py", &[], &[]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(!lines.is_empty(), "no change printed:\n{stderr}");
    let labels = [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
    ];
    for line in &lines {
        // "0:00:00.083  track 1  (new) -> neutral"
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "unexpected line {line:?}");
        let time: Vec<&str> = fields[0].split([':', '.']).collect();
        assert!(
            time.len() == 4 && time.iter().all(|t| t.parse::<u32>().is_ok()),
            "time in {line:?}"
        );
        assert_eq!(fields[1], "track", "{line:?}");
        assert!(
            fields[3] == "(new)" || labels.contains(&fields[3]),
            "{line:?}"
        );
        assert_eq!(fields[4], "->", "{line:?}");
        assert!(labels.contains(&fields[5]), "{line:?}");
    }
    let track1: Vec<&&str> = lines
        .iter()
        .filter(|l| l.split_whitespace().nth(2) == Some("1"))
        .collect();
    assert!(
        !track1.is_empty(),
        "no change of track 1 in:\n{stdout}\n{stderr}"
    );
    assert!(
        track1[0].contains("(new) -> "),
        "track 1's first line gives its first label: {stdout}"
    );
    assert!(
        stderr.contains(&format!("{} changes", lines.len())),
        "{stderr}"
    );
}

#[test]
fn upstream_faces_writes_expressions_for_facedetect_faces() {
    let input = neural_media::assets::data_dir().join("media/single_face.mp4");
    let out = std::env::temp_dir().join(format!("upstream-{}.jsonl", std::process::id()));
    run(
        "upstream-faces.sh",
        &[&input.display().to_string(), &out.display().to_string()],
        &[],
    );
    let text = std::fs::read_to_string(&out).expect("JSON lines written");
    let _ = std::fs::remove_file(&out);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    // 72 frames with facedetect's face; faceexpression confirms it on the second and labels it
    // on facedetect's own meta (one object per frame, no duplicate), without landmarks.
    let mut labelled = 0;
    for line in &lines {
        let objects = line["objects"].as_array().expect("objects");
        assert_eq!(objects.len(), 1, "{line}");
        let face = &objects[0];
        if face["expression"]["label"].is_string() {
            labelled += 1;
            assert!(face["id"].as_u64() > Some(0), "the track id: {face}");
        }
        assert!(
            face.get("landmarks").is_none(),
            "no landmarks from facedetect: {face}"
        );
    }
    assert!(
        labelled >= 65,
        "{labelled} of {} frames labelled",
        lines.len()
    );
}
