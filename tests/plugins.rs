// SPDX-License-Identifier: MPL-2.0
//! The built plugins load in a stock GStreamer (gst-inspect-1.0) with correct metadata.
//!
//! The shared libraries come from `cargo build --workspace` (scripts/test.sh runs it first).

use std::path::PathBuf;
use std::process::Command;

use gst::prelude::*;

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
    for element in ["neuralttssrc", "faceexpression", "expressionoverlay"] {
        assert!(
            text.contains(&format!(" {element}: ")),
            "{element} missing from:\n{text}"
        );
    }
}

/// Our plugins, and every element they register.
const OUR_PLUGINS: [&str; 2] = ["neuraltts", "faceexpr"];
const OUR_ELEMENTS: [&str; 6] = [
    "analyticsjson",
    "expressiondescribe",
    "expressionoverlay",
    "faceexpression",
    "neuraltts",
    "neuralttssrc",
];

/// Every GType name registered so far, walked down from the fundamental types.
fn registered_type_names() -> std::collections::HashSet<String> {
    use gst::glib::Type;
    let mut names = std::collections::HashSet::new();
    let mut todo = vec![
        Type::OBJECT,
        Type::INTERFACE,
        Type::ENUM,
        Type::FLAGS,
        Type::BOXED,
        Type::POINTER,
    ];
    while let Some(ty) = todo.pop() {
        names.insert(ty.name().to_string());
        todo.extend(ty.children().iter().copied());
    }
    names
}

/// The GType names an element's class brings: its own, and its properties' enum/flags types.
fn class_type_names(ty: gst::glib::Type) -> Vec<String> {
    let class = gst::glib::Class::<gst::glib::Object>::from_type(ty)
        .unwrap_or_else(|| panic!("{} has no object class", ty.name()));
    let mut names = vec![ty.name().to_string()];
    for pspec in class.list_properties().iter() {
        let value_type = pspec.value_type();
        if value_type.is_a(gst::glib::Type::ENUM) || value_type.is_a(gst::glib::Type::FLAGS) {
            names.push(value_type.name().to_string());
        }
    }
    names
}

/// With Debian's base/good/bad/ugly/libav/opencv/rtsp plugins installed (scripts/setup.sh installs
/// them), every element of ours resolves by name to our plugins, and no GType name of ours is
/// registered by another plugin. Runs in a child process without `G_DEBUG=fatal_warnings`: loading
/// every installed plugin is not ours to keep warning-free, and a clash shows as an assertion.
#[test]
fn names_unique_among_installed_plugins() {
    const CHILD: &str = "NEURAL_MEDIA_COLLISION_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let out = Command::new(std::env::current_exe().expect("test executable"))
            .args([
                "names_unique_among_installed_plugins",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .env_remove("G_DEBUG")
            .env("GST_PLUGIN_PATH", plugin_dir())
            .env(
                "GST_REGISTRY",
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("registry-all-plugins.bin"),
            )
            .output()
            .expect("test executable runs");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }

    gst::init().expect("GStreamer initialises");
    let registry = gst::Registry::get();
    // The plugins where names like ours live are really installed: otherwise this proves nothing.
    for (element, plugin) in [
        ("faceoverlay", "faceoverlay"),
        ("facedetect", "opencv"),
        ("rtspclientsink", "rtspclientsink"),
        ("avdec_h264", "libav"),
        ("x264enc", "x264"),
        ("textoverlay", "pango"),
        ("qtdemux", "isomp4"),
    ] {
        let factory = gst::ElementFactory::find(element)
            .unwrap_or_else(|| panic!("{element} ({plugin}) is not installed"));
        assert_eq!(factory.plugin_name().as_deref(), Some(plugin), "{element}");
    }
    let mut ours: Vec<String> = OUR_PLUGINS
        .iter()
        .flat_map(|plugin| registry.features_by_plugin(plugin))
        .filter(|feature| feature.is::<gst::ElementFactory>())
        .map(|feature| feature.name().to_string())
        .collect();
    ours.sort();
    assert_eq!(ours, OUR_ELEMENTS);

    // Every other plugin first, with its element classes (which register their enum types), so
    // that a name of ours that someone else has is already taken when ours load.
    for plugin in registry.plugins() {
        if OUR_PLUGINS.contains(&plugin.plugin_name().as_str()) {
            continue;
        }
        let Ok(plugin) = plugin.load() else { continue };
        for feature in registry.features_by_plugin(&plugin.plugin_name()) {
            let Ok(factory) = feature.downcast::<gst::ElementFactory>() else {
                continue;
            };
            if let Ok(factory) = factory.load() {
                let _ = gst::glib::Class::<gst::glib::Object>::from_type(factory.element_type());
            }
        }
    }
    let theirs = registered_type_names();
    assert!(
        theirs.contains("GstFaceOverlay"),
        "plugins-bad's faceoverlay class loaded"
    );

    for element in OUR_ELEMENTS {
        let factory = gst::ElementFactory::find(element).expect("our element is registered");
        let plugin = factory.plugin_name().map(|p| p.to_string());
        assert!(
            plugin.as_deref().is_some_and(|p| OUR_PLUGINS.contains(&p)),
            "{element} resolves to plugin {plugin:?}, not ours"
        );
        let factory = factory
            .load()
            .unwrap_or_else(|e| panic!("{element} does not load after every other plugin: {e}"));
        for name in class_type_names(factory.element_type()) {
            assert!(
                name.starts_with("GstNm"),
                "{element}: GType {name} lacks our prefix GstNm"
            );
            assert!(!theirs.contains(&name), "{element}: GType {name} is taken");
        }
        gst::ElementFactory::make(element)
            .build()
            .unwrap_or_else(|e| panic!("{element} cannot be made: {e}"));
    }
}
