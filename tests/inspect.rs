// SPDX-License-Identifier: MPL-2.0
//! Each element's `gst-inspect-1.0` output is its documentation: a checked-in snapshot per
//! element (`docs/inspect/<element>.txt`) must match the built plugin, so documentation changes
//! are deliberate. File names, versions and dates are normalised.
//!
//! After a deliberate change: `UPDATE_SNAPSHOTS=1 cargo nextest run --test inspect`, then
//! review and commit the diff of `docs/inspect/`.

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::{plugin_dir, repo};

fn inspect(arg: &str) -> String {
    let out = Command::new("gst-inspect-1.0")
        .arg(arg)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env(
            "GST_REGISTRY",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("registry-inspect.bin"),
        )
        .env("GST_INSPECT_NO_COLORS", "1")
        .env("PAGER", "cat")
        .output()
        .expect("gst-inspect-1.0 runs");
    assert!(
        out.status.success(),
        "gst-inspect-1.0 {arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces what changes from build to build or machine to machine.
fn normalise(text: &str) -> String {
    let repo = repo().display().to_string();
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            for key in ["Filename", "Version", "Source release date"] {
                if let Some(rest) = trimmed.strip_prefix(key) {
                    let width = rest.len() - rest.trim_start().len();
                    return format!("{indent}{key}{}<{}>", " ".repeat(width), key.to_lowercase());
                }
            }
            line.replace(&repo, "<repository>").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Element names of one of our plugins, from the gst-inspect page of its library (the plugin
/// `neuraltts` shares its name with an element).
fn elements(plugin: &str) -> Vec<String> {
    let library = plugin_dir().join(format!("libgst{plugin}.so"));
    let text = inspect(library.to_str().expect("UTF-8 path"));
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("Plugin Details"))
        .take_while(|l| !l.contains("features:"))
        .filter_map(|l| {
            let (name, _) = l.trim().split_once(": ")?;
            name.chars()
                .all(|c| c.is_ascii_lowercase())
                .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_element_matches_its_documentation_snapshot() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut names = Vec::new();
    let mut stale = Vec::new();
    for plugin in ["neuraltts", "faceexpr"] {
        for element in elements(plugin) {
            let current = normalise(&inspect(&element));
            let path = repo().join("docs/inspect").join(format!("{element}.txt"));
            if update {
                std::fs::write(&path, &current).expect("write snapshot");
            } else {
                match std::fs::read_to_string(&path) {
                    Ok(saved) if saved == current => {}
                    Ok(_) => stale.push(format!("{element}: differs from {}", path.display())),
                    Err(_) => stale.push(format!("{element}: no snapshot at {}", path.display())),
                }
            }
            names.push(element);
        }
    }
    assert!(names.len() >= 4, "elements found: {names:?}");
    assert!(
        stale.is_empty(),
        "gst-inspect output changed:\n  {}\nIf deliberate: UPDATE_SNAPSHOTS=1 cargo nextest run --test inspect, then review docs/inspect/",
        stale.join("\n  ")
    );
}
