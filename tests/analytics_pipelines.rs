// SPDX-License-Identifier: MPL-2.0
//! `pipelines/analytics-record.sh` records the clip to an H.264 MP4 and, on the other branch of a
//! tee, writes one JSON line per frame with the tracked face.
//!
//! The script loads the plugins from `target/<profile>` (scripts/test.sh builds them first).

use std::process::Command;

mod common;
use common::{out_file, plugin_dir, repo};

#[test]
fn analytics_record_writes_mp4_and_json_lines_side_by_side() {
    let input = neural_media::assets::data_dir().join("media/WolfgangLanger_Pexels.mp4");
    assert!(
        input.is_file(),
        "{} missing: run scripts/setup.sh",
        input.display()
    );
    let (mp4, jsonl) = (out_file("recording.mp4"), out_file("faces.jsonl"));
    let out = Command::new(repo().join("pipelines/analytics-record.sh"))
        .args([&input, &mp4, &jsonl])
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .expect("analytics-record.sh starts");
    assert!(
        out.status.success(),
        "analytics-record.sh failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&jsonl).expect("json lines written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 472, "one line per frame");
    let stamps: Vec<u64> = lines
        .iter()
        .map(|l| l["timestamp"].as_u64().expect("timestamp"))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "ordered timestamps");
    let with_face = lines
        .iter()
        .filter(|l| l["objects"].as_array().is_some_and(|o| o.len() == 1))
        .count();
    assert!(with_face > 440, "face on {with_face}/472 frames");

    let bytes = std::fs::read(&mp4).expect("mp4 written");
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 file");
    let out = Command::new("gst-discoverer-1.0")
        .arg(&mp4)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(info.contains("H.264"), "{info}");
}
