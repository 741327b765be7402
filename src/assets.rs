// SPDX-License-Identifier: MPL-2.0
//! Where provisioned assets live.
//!
//! One data directory holds the ONNX Runtime library (`lib/`) and the models (`models/…`). Its
//! location is, in order:
//! 1. the environment variable `NEURAL_MEDIA_DATA_DIR`, if set and not empty;
//! 2. the default baked in at build time: `NEURAL_MEDIA_DEFAULT_DATA_DIR` in the build environment
//!    (meson sets it to the installed data dir), else `<repository>/data` for cargo builds.
//!
//! Every model property of the elements overrides its default file; `ORT_DYLIB_PATH` overrides
//! the ONNX Runtime library.

use std::path::PathBuf;

/// Environment variable that relocates the data directory at run time.
pub const DATA_DIR_ENV: &str = "NEURAL_MEDIA_DATA_DIR";
/// Environment variable that names the ONNX Runtime shared library to load (ort's convention).
pub const ORT_LIBRARY_ENV: &str = "ORT_DYLIB_PATH";
/// File name of the ONNX Runtime library inside `<data dir>/lib`, from the pinned wheel.
pub const ORT_LIBRARY_NAME: &str = "libonnxruntime.so.1.32.0";

/// Default voice (relative to the data dir).
pub const DEFAULT_VOICE: &str = "models/tts/en_US-joe-medium.onnx";
/// Default face detector (relative to the data dir).
pub const DEFAULT_FACE_DETECTOR: &str = "models/face/centerface.onnx";
/// Default expression classifier (relative to the data dir); its descriptor sits beside it.
pub const DEFAULT_EXPRESSION_CLASSIFIER: &str = "models/face/emotion-mini-xception.onnx";

const BUILD_DEFAULT_DATA_DIR: Option<&str> = option_env!("NEURAL_MEDIA_DEFAULT_DATA_DIR");

/// The data directory, resolved as described in the module documentation.
pub fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(
            BUILD_DEFAULT_DATA_DIR.unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
        ),
    }
}

/// A file inside the data directory.
pub fn data_file(relative: &str) -> PathBuf {
    data_dir().join(relative)
}

/// The ONNX Runtime library to load: `ORT_DYLIB_PATH` if set, else `<data dir>/lib/<name>`.
pub fn ort_library() -> PathBuf {
    match std::env::var_os(ORT_LIBRARY_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => data_dir().join("lib").join(ORT_LIBRARY_NAME),
    }
}
