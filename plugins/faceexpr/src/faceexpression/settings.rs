// SPDX-License-Identifier: MPL-2.0
//! `faceexpression`'s property defaults and settings, and the core configuration they map to.

use neural_media::engine::BatchPolicy;
use neural_media::face::{self, AnnotatorConfig};

use super::{DetectionMode, DetectionSource, PostMessages, Smoothing};
use crate::ExecutionProvider;

pub const DEFAULT_THREADS: u32 = 0;
pub const DEFAULT_DETECTION_SIZE: u32 = 640;
pub const DEFAULT_DETECTION_THRESHOLD: f64 = 0.5;
pub const DEFAULT_NMS_THRESHOLD: f64 = 0.3;
pub const DEFAULT_MIN_FACE_SIZE: u32 = 0;
pub const DEFAULT_MAX_FACES: u32 = 32;
pub const DEFAULT_INFERENCE_INTERVAL: u32 = 1;
pub const DEFAULT_CLASSIFY_INTERVAL: u32 = 1;
pub const DEFAULT_STICKINESS: f64 = 0.9;
pub const DEFAULT_QOS: bool = true;
pub const DEFAULT_PIPELINED: bool = false;
pub const DEFAULT_MAX_BATCH: u32 = 0;
pub const DEFAULT_BATCH_TIMEOUT_MS: u32 = 5;
pub const DEFAULT_DETECTION_MODE: DetectionMode = DetectionMode::Roi;
pub const DEFAULT_FULL_SCAN_INTERVAL: u32 = face::DEFAULT_FULL_SCAN_INTERVAL;

#[derive(Debug, Clone)]
pub struct Settings {
    pub detector_model: Option<String>,
    pub classifier_model: Option<String>,
    pub execution_provider: ExecutionProvider,
    pub threads: u32,
    pub model_instance: String,
    pub detection_size: u32,
    pub detection_threshold: f64,
    pub nms_threshold: f64,
    pub min_face_size: u32,
    pub max_faces: u32,
    pub inference_interval: u32,
    pub classify_interval: u32,
    pub smoothing: Smoothing,
    pub stickiness: f64,
    pub post_messages: PostMessages,
    pub pipelined: bool,
    pub detection_source: DetectionSource,
    pub max_batch: u32,
    pub batch_timeout_ms: u32,
    pub detection_mode: DetectionMode,
    pub full_scan_interval: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            detector_model: None,
            classifier_model: None,
            execution_provider: ExecutionProvider::default(),
            threads: DEFAULT_THREADS,
            model_instance: String::new(),
            detection_size: DEFAULT_DETECTION_SIZE,
            detection_threshold: DEFAULT_DETECTION_THRESHOLD,
            nms_threshold: DEFAULT_NMS_THRESHOLD,
            min_face_size: DEFAULT_MIN_FACE_SIZE,
            max_faces: DEFAULT_MAX_FACES,
            inference_interval: DEFAULT_INFERENCE_INTERVAL,
            classify_interval: DEFAULT_CLASSIFY_INTERVAL,
            smoothing: Smoothing::default(),
            stickiness: DEFAULT_STICKINESS,
            post_messages: PostMessages::default(),
            pipelined: DEFAULT_PIPELINED,
            detection_source: DetectionSource::Model,
            max_batch: DEFAULT_MAX_BATCH,
            batch_timeout_ms: DEFAULT_BATCH_TIMEOUT_MS,
            detection_mode: DEFAULT_DETECTION_MODE,
            full_scan_interval: DEFAULT_FULL_SCAN_INTERVAL,
        }
    }
}

impl Settings {
    /// How this element's requests may be batched with other streams'.
    pub fn batch_policy(&self) -> BatchPolicy {
        BatchPolicy {
            max_batch: self.max_batch as usize,
            timeout: std::time::Duration::from_millis(self.batch_timeout_ms.into()),
        }
    }

    pub fn annotator_config(&self) -> AnnotatorConfig {
        let stickiness = self.stickiness as f32;
        let smoothing = match self.smoothing {
            Smoothing::None => face::Smoothing::None,
            Smoothing::Ema => face::Smoothing::Ema {
                alpha: (1.0 - stickiness).max(0.01),
            },
            Smoothing::Hmm => face::Smoothing::hmm(stickiness),
        };
        let detector = face::DetectorConfig {
            detection_size: self.detection_size,
            threshold: self.detection_threshold as f32,
            nms_threshold: self.nms_threshold as f32,
            min_face_size: self.min_face_size as f32,
            max_faces: self.max_faces as usize,
        };
        AnnotatorConfig {
            detection_mode: match self.detection_mode {
                DetectionMode::Full => face::DetectionMode::Full,
                DetectionMode::Roi => face::DetectionMode::Roi,
            },
            full_scan_interval: self.full_scan_interval,
            ..AnnotatorConfig::new(
                detector,
                smoothing,
                self.inference_interval,
                self.classify_interval,
            )
        }
    }
}
