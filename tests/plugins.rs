// SPDX-License-Identifier: MPL-2.0
//! The built plugins load in a stock GStreamer (gst-inspect-1.0) with correct metadata.
//!
//! The shared libraries come from `cargo build --workspace` (scripts/test.sh runs it first).

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::plugin_dir;

fn inspect(plugin: &str) -> String {
    let lib = plugin_dir().join(format!("libgst{plugin}.so"));
    assert!(
        lib.is_file(),
        "{} missing: run `cargo build --workspace` first",
        lib.display()
    );
    let registry =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("registry-{plugin}.bin"));
    let out = Command::new("gst-inspect-1.0")
        .arg(&lib)
        .env("GST_REGISTRY", registry)
        .env("GST_PLUGIN_SYSTEM_PATH_1_0", "")
        .output()
        .expect("gst-inspect-1.0 runs (gstreamer1.0-tools)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "gst-inspect-1.0 {} failed:\n{text}\n{}",
        lib.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name).map(str::trim))
        .unwrap_or_else(|| panic!("no {name:?} line in:\n{text}"))
}

#[test]
fn tts_plugin_metadata() {
    let text = inspect("neuraltts");
    assert_eq!(field(&text, "Name"), "neuraltts");
    assert!(field(&text, "Description").contains("text-to-speech"));
    assert_eq!(field(&text, "License"), "GPL");
    assert_eq!(field(&text, "Source module"), "gst-plugin-neuraltts");
    assert!(field(&text, "Version").starts_with(env!("CARGO_PKG_VERSION")));
}

#[test]
fn faceexpr_plugin_metadata() {
    let text = inspect("faceexpr");
    assert_eq!(field(&text, "Name"), "faceexpr");
    assert!(field(&text, "Description").contains("Facial expression"));
    assert_eq!(field(&text, "License"), "MPL");
    assert_eq!(field(&text, "Source module"), "gst-plugin-faceexpr");
    assert!(field(&text, "Version").starts_with(env!("CARGO_PKG_VERSION")));
}

#[test]
fn both_plugins_load_into_one_process() {
    // Each plugin registers its own types; loading both together must not clash.
    let out = Command::new("gst-inspect-1.0")
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env(
            "GST_REGISTRY",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("registry-both.bin"),
        )
        .output()
        .expect("gst-inspect-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for element in ["neuralttssrc", "faceexpression", "faceoverlay"] {
        assert!(
            text.contains(&format!(" {element}: ")),
            "{element} missing from:\n{text}"
        );
    }
}
