// SPDX-License-Identifier: MPL-2.0
//! The one error type of the core library.

use std::path::PathBuf;

/// Everything that can go wrong in the core. Each variant names the file or input at fault so that
/// an element can turn it into a message a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX Runtime shared library could not be loaded.
    #[error("cannot load the ONNX Runtime library {}: {reason}", path.display())]
    Runtime { path: PathBuf, reason: String },
    /// A model file is missing, unreadable or not a usable model.
    #[error("cannot use model {}: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    /// A configuration / descriptor file is missing or invalid.
    #[error("invalid configuration {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    /// Running a model failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// Input data (text, frame, ids) is not acceptable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The run was cancelled through its [`crate::engine::Cancel`] (a flush, `unlock()` or a
    /// stop): not a failure of the model.
    #[error("cancelled")]
    Cancelled,
    /// The phonemizer failed.
    #[error("phonemizer: {0}")]
    Phonemizer(String),
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn model(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Model {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn config(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Config {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn inference(reason: impl std::fmt::Display) -> Self {
        Error::Inference(reason.to_string())
    }
}
