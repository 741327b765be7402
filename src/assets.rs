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
//!
//! # Descriptors
//!
//! A model that needs one finds its JSON descriptor beside it, named after the model's **file
//! name with `.json` appended** ([`descriptor_beside`]): Piper's convention, which every model here
//! follows. A voice `en_US-joe-medium.onnx` has its configuration in `en_US-joe-medium.onnx.json`,
//! the expression classifier `emotion-mini-xception.onnx` its descriptor in
//! `emotion-mini-xception.onnx.json`. Loaders check the model file before its descriptor, so a
//! missing model is reported as such.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable that relocates the data directory at run time.
pub const DATA_DIR_ENV: &str = "NEURAL_MEDIA_DATA_DIR";
/// Environment variable that names the ONNX Runtime shared library to load (ort's convention).
pub const ORT_LIBRARY_ENV: &str = "ORT_DYLIB_PATH";
/// File name of the ONNX Runtime library inside `<data dir>/lib`, from the pinned wheel.
pub const ORT_LIBRARY_NAME: &str = "libonnxruntime.so.1.32.0";

/// Default voice (relative to the data dir): the provisioned [`PROVISIONED_VOICE`] with its
/// phoneme durations as a second output, derived at set-up by `scripts/piper-add-durations.py`
/// (same audio; word and viseme marks).
pub const DEFAULT_VOICE: &str = "models/tts/en_US-joe-medium-durations.onnx";
/// The voice as its package ships it (relative to the data dir): no durations output.
pub const PROVISIONED_VOICE: &str = "models/tts/en_US-joe-medium.onnx";
/// Default face detector (relative to the data dir).
pub const DEFAULT_FACE_DETECTOR: &str = "models/face/centerface.onnx";
/// Default expression classifier (relative to the data dir); its descriptor sits beside it
/// ([`descriptor_beside`]).
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

/// What is appended to a model's file name to name its descriptor.
pub const DESCRIPTOR_SUFFIX: &str = ".json";

/// The descriptor beside `model`, as the [module documentation](self#descriptors) says: the
/// model's path with `.json` appended (`voice.onnx` → `voice.onnx.json`).
pub fn descriptor_beside(model: &Path) -> PathBuf {
    let mut path = model.as_os_str().to_owned();
    path.push(DESCRIPTOR_SUFFIX);
    PathBuf::from(path)
}

/// Reads the descriptor of a model about to be loaded: `explicit` if given, else the one
/// [beside](descriptor_beside) the model. Returns it and where it was read from.
///
/// The model is checked first: if it cannot be found that is the error (a [`Error::Model`] naming
/// it), not its descriptor. A missing default descriptor is an [`Error::Config`] naming it and
/// saying that the `what` is expected next to the model; `read`'s own errors pass unchanged.
pub(crate) fn read_descriptor<T>(
    model: &Path,
    explicit: Option<&Path>,
    what: &str,
    read: impl FnOnce(&Path) -> Result<T>,
) -> Result<(T, PathBuf)> {
    std::fs::metadata(model).map_err(|e| Error::model(model, e))?;
    if let Some(path) = explicit {
        return Ok((read(path)?, path.to_path_buf()));
    }
    let path = descriptor_beside(model);
    if let Err(e) = std::fs::metadata(&path) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        return Err(Error::config(
            &path,
            format!(
                "{e}; the {what} of {} is expected next to it, as {name} (the model's file name \
                 with {DESCRIPTOR_SUFFIX} appended)",
                model.display()
            ),
        ));
    }
    Ok((read(&path)?, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_is_the_model_file_name_with_json_appended() {
        for (model, descriptor) in [
            ("/d/en_US-joe-medium.onnx", "/d/en_US-joe-medium.onnx.json"),
            (
                "/d/emotion-mini-xception.onnx",
                "/d/emotion-mini-xception.onnx.json",
            ),
            ("relative/model", "relative/model.json"),
        ] {
            assert_eq!(descriptor_beside(Path::new(model)), Path::new(descriptor));
        }
    }
}
