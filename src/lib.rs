// SPDX-License-Identifier: MPL-2.0
//! Neural models for media pipelines, with no GStreamer types.
//!
//! * [`runtime`] — ONNX Runtime loading, execution-provider choice and session building.
//! * [`engine`] — shared model instances, the process's thread budget and cancellable runs.
//! * [`assets`] — where the provisioned models and the ONNX Runtime library live.
//! * [`tts`] — Piper VITS voices: text front end and synthesis.
//! * [`face`] — face detection, expression classification, tracking and temporal smoothing.
#![forbid(unsafe_code)]

pub mod assets;
pub mod engine;
pub mod error;
pub mod runtime;

pub use error::{Error, Result};
pub mod face;
pub mod tts;
