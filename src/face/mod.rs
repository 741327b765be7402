// SPDX-License-Identifier: MPL-2.0
//! Face detection, expression classification, tracking and temporal smoothing.
//!
//! * [`frame`] — a borrowed frame view (packed RGB family, I420, NV12) and the one resampling
//!   pass that builds model inputs from it.
//! * [`geometry`] — boxes, IoU, NMS.
//! * [`detect`] — the CenterFace detector ([`FaceDetector`]).
//! * [`classify`] — the descriptor-driven expression classifier ([`ExpressionClassifier`]).
//! * [`track`] — IoU tracker with Hungarian assignment.
//! * [`roi`] — detection around tracked faces ([`DetectionMode::Roi`]): crops and their faces.
//! * [`temporal`] — per-track smoothing of the expression probabilities (HMM, EMA) and hysteresis.
//!
//! [`ExpressionAnnotator`] ties them together, one call per frame:
//!
//! ```no_run
//! use neural_media::face::{AnnotatorConfig, ExpressionAnnotator, Frame, PixelFormat};
//! use neural_media::{assets, runtime::SessionOptions};
//!
//! let mut annotator = ExpressionAnnotator::load(
//!     &assets::data_file(assets::DEFAULT_FACE_DETECTOR),
//!     &assets::data_file(assets::DEFAULT_EXPRESSION_CLASSIFIER),
//!     None,
//!     &SessionOptions::default(),
//!     AnnotatorConfig::default(),
//! )?;
//! let pixels = vec![0u8; 640 * 360 * 3];
//! let frame = Frame::packed(PixelFormat::Rgb, 640, 360, &pixels, 640 * 3)?;
//! let result = annotator.process(&frame)?;
//! for face in &result.faces {
//!     println!("face {} is {} ({:.2})", face.track_id, face.label, face.confidence);
//! }
//! # Ok::<(), neural_media::Error>(())
//! ```

pub mod classify;
pub mod detect;
pub mod frame;
pub mod geometry;
pub mod roi;
pub mod temporal;
pub mod track;

use std::path::Path;
use std::time::{Duration, Instant};

pub use classify::{Descriptor, ExpressionClassifier};
pub use detect::{Detection, DetectorConfig, FaceDetector};
pub use frame::{Frame, PixelFormat, YuvMatrix};
pub use geometry::BBox;
pub use temporal::{ExpressionSmoother, HysteresisConfig, SequenceModel, Smoothing};
pub use track::{Tracker, TrackerConfig};

use crate::engine::Overlap;
use crate::error::Result;
use crate::runtime::SessionOptions;

/// Where the detector looks on the frames it runs on. The default is `Roi`: over the sample
/// clips it agrees with `Full` on the labels and faces (`tests/face_models.rs`) at a fraction of
/// the cost; a new face is confirmed up to `full_scan_interval - 1` frames later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectionMode {
    /// The whole frame, resized to [`DetectorConfig::detection_size`].
    Full,
    /// A crop around each tracked face ([`roi`]), batched into one run; the whole frame every
    /// [`AnnotatorConfig::full_scan_interval`] frames (new faces), at once when a crop loses its
    /// face or is uncertain, when a track has no calibration yet (its first frame after the scan
    /// that found it) and when the crops would cost more than the whole frame. Crop boxes are
    /// calibrated onto the whole-frame boxes ([`roi::calibration`]).
    #[default]
    Roi,
}

/// Where a face's box on a frame comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxSource {
    /// Our detector on the whole frame.
    Full,
    /// Our detector on a crop around the face.
    Roi,
    /// The tracker's prediction (no detection on this frame).
    Predicted,
    /// Another detector's ([`ExpressionAnnotator::process_with_detections`]).
    Upstream,
}

impl BoxSource {
    /// `full`, `roi`, `predicted` or `upstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            BoxSource::Full => "full",
            BoxSource::Roi => "roi",
            BoxSource::Predicted => "predicted",
            BoxSource::Upstream => "upstream",
        }
    }
}

/// Default [`AnnotatorConfig::full_scan_interval`].
pub const DEFAULT_FULL_SCAN_INTERVAL: u32 = 10;

/// Everything the annotator does per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotatorConfig {
    /// Detector parameters.
    pub detector: DetectorConfig,
    /// Tracker parameters.
    pub tracker: TrackerConfig,
    /// Temporal model of each face's expression.
    pub smoothing: Smoothing,
    /// When a face's label may change.
    pub hysteresis: HysteresisConfig,
    /// Run the detector on one frame in this many (1: every frame); the tracker carries the
    /// boxes in between.
    pub inference_interval: u32,
    /// Re-classify a face once in this many frames (1: every frame). A new face is classified
    /// on its first frame.
    pub classify_interval: u32,
    /// Where the detector looks.
    pub detection_mode: DetectionMode,
    /// With [`DetectionMode::Roi`]: scan the whole frame when this many frames have passed since
    /// the last whole-frame scan (on the next frame the detector runs on); new faces are found
    /// by these scans.
    pub full_scan_interval: u32,
}

impl AnnotatorConfig {
    /// These detector, smoothing and interval settings with the default tracker and hysteresis.
    pub fn new(
        detector: DetectorConfig,
        smoothing: Smoothing,
        inference_interval: u32,
        classify_interval: u32,
    ) -> AnnotatorConfig {
        AnnotatorConfig {
            detector,
            tracker: TrackerConfig::default(),
            smoothing,
            hysteresis: HysteresisConfig::default(),
            inference_interval,
            classify_interval,
            detection_mode: DetectionMode::default(),
            full_scan_interval: DEFAULT_FULL_SCAN_INTERVAL,
        }
    }
}

impl Default for AnnotatorConfig {
    fn default() -> Self {
        AnnotatorConfig::new(DetectorConfig::default(), Smoothing::default(), 1, 1)
    }
}

/// One face on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceAnnotation {
    /// Stable id of the face across frames, from 1.
    pub track_id: u64,
    /// Box in frame pixels (carried by the tracker on frames without detection).
    pub bbox: BBox,
    /// Detector score of the last matched detection.
    pub detection_confidence: f32,
    /// Five landmarks (see [`Detection::landmarks`]), moved with the box when carried.
    pub landmarks: [(f32, f32); 5],
    /// Stable (smoothed, with hysteresis) expression.
    pub label: String,
    /// Index of `label` in [`ExpressionAnnotator::labels`].
    pub label_index: usize,
    /// Smoothed probability of `label`.
    pub confidence: f32,
    /// The classifier's own top class on its latest run for this face.
    pub raw_label: String,
    /// Index of `raw_label`.
    pub raw_label_index: usize,
    /// Smoothed probabilities, in label order.
    pub probabilities: Vec<f32>,
    /// The classifier's latest probabilities, in label order.
    pub raw_probabilities: Vec<f32>,
    /// Frames since the face was first seen.
    pub frames_tracked: u64,
    /// True when the detector ran on this frame (the box is a detection, not a prediction).
    pub detected: bool,
    /// True when the classifier ran for this face on this frame.
    pub classified: bool,
    /// Where the box comes from on this frame.
    pub box_source: BoxSource,
}

/// A face's stable label changed (or was set for the first time: `old` is None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionChange {
    /// The face.
    pub track_id: u64,
    /// Previous label.
    pub old: Option<String>,
    /// New label.
    pub new: String,
}

/// What one [`ExpressionAnnotator::process`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessStats {
    /// Frame number since the last reset (0-based).
    pub frame: u64,
    /// Whether the detector ran (on the whole frame or on crops).
    pub detector_ran: bool,
    /// Whether the detector ran on the whole frame.
    pub full_scan: bool,
    /// Crops the detector ran on ([`DetectionMode::Roi`]). On a frame whose whole frame was
    /// scanned too, the crops' faces only calibrate their tracks' crop boxes.
    pub crops: usize,
    /// Faces the detector found (0 when it did not run).
    pub detections: usize,
    /// Faces classified.
    pub classified: usize,
    /// Time in the detector (preprocessing included).
    pub detect_time: Duration,
    /// Time in the classifier (preprocessing included).
    pub classify_time: Duration,
    /// Time of the whole call.
    pub total_time: Duration,
}

/// Result of one frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameAnnotations {
    /// Confirmed faces, oldest track first.
    pub faces: Vec<FaceAnnotation>,
    /// Label changes on this frame.
    pub changes: Vec<ExpressionChange>,
    /// The track each of this frame's detections went to, in detection order (empty when no
    /// detection was made or given on this frame).
    pub detection_tracks: Vec<u64>,
    /// Timings and counters.
    pub stats: ProcessStats,
}

/// Where a frame's face boxes come from.
#[derive(Clone, Copy)]
enum Boxes<'a> {
    /// Our detector, when `inference_interval` says so; else the tracker's predictions.
    Detector,
    /// The tracker's predictions only.
    Tracker,
    /// Another detector's, on this frame.
    Given(&'a [Detection]),
}

/// Per-track state.
#[derive(Debug, Default)]
struct FaceState {
    smoother: Option<ExpressionSmoother>,
    score: f32,
    landmarks: [(f32, f32); 5],
    /// The box the landmarks belong to.
    landmarks_box: BBox,
    /// How the whole-frame box relates to the crop's box ([`roi::calibration`]), from the last
    /// frame on which both were found.
    calibration: Option<[f32; 4]>,
    /// The crop's own (uncalibrated) box of the face on the last frame it was found in a crop
    /// alone; None after a whole-frame scan.
    crop_box: Option<BBox>,
    last_classified: Option<u64>,
    /// A label change from the hysteresis not reported yet, as `(old, new)` label indices: it
    /// waits for a frame on which the face is visible (changes in between merge into one).
    unreported: Option<(Option<usize>, usize)>,
}

/// Detector + classifier + tracker + per-face temporal model.
#[derive(Debug)]
pub struct ExpressionAnnotator {
    detector: FaceDetector,
    classifier: ExpressionClassifier,
    config: AnnotatorConfig,
    tracker: Tracker<FaceState>,
    frame: u64,
    last_detection: Option<u64>,
    last_full_scan: Option<u64>,
    /// This frame's crop faces `(track id, face)` when the whole frame was scanned too.
    crop_faces: Vec<(u64, Detection)>,
}

impl ExpressionAnnotator {
    /// Ties loaded models together.
    pub fn new(
        detector: FaceDetector,
        classifier: ExpressionClassifier,
        config: AnnotatorConfig,
    ) -> ExpressionAnnotator {
        ExpressionAnnotator {
            detector,
            classifier,
            tracker: Tracker::new(config.tracker),
            config,
            frame: 0,
            last_detection: None,
            last_full_scan: None,
            crop_faces: Vec::new(),
        }
    }

    /// Loads both models (`descriptor`: None for the one beside the classifier,
    /// `<classifier file name>.json`).
    pub fn load(
        detector: &Path,
        classifier: &Path,
        descriptor: Option<&Path>,
        options: &SessionOptions,
        config: AnnotatorConfig,
    ) -> Result<ExpressionAnnotator> {
        // A narrow session's arena keeps the size of its largest run (a whole 640x352 frame: about
        // 45 MB). The detector's runs, whole frames and ROI crop batches alike, take turns on the
        // wide session: the two narrow sessions of crop batches cost 40 MB from the second
        // stream on, for no throughput measurable on 2 cores (see `crate::engine`).
        let detector = FaceDetector::load(
            detector,
            &SessionOptions {
                overlap: Overlap::Never,
                ..options.clone()
            },
        )?;
        // Each session has its own thread pool. The classifier runs for a millisecond or two
        // between detector runs; were its pool to spin, it would busy-wait on the cores the
        // detector's pool then needs (measured on two cores: the detector's run took about twice
        // as long, 14 -> 28-38 ms at 640x352). Without spinning it costs the classifier nothing
        // measurable.
        let classifier = ExpressionClassifier::load(
            classifier,
            descriptor,
            &SessionOptions {
                spinning: false,
                ..options.clone()
            },
        )?;
        Ok(ExpressionAnnotator::new(detector, classifier, config))
    }

    /// Expression labels, in probability order.
    pub fn labels(&self) -> &[String] {
        self.classifier.labels()
    }

    /// The configuration.
    pub fn config(&self) -> &AnnotatorConfig {
        &self.config
    }

    /// Changes the configuration. Changing the smoothing or hysteresis resets the tracks (their
    /// state was built for the old one); the other fields apply from the next frame.
    pub fn set_config(&mut self, config: AnnotatorConfig) {
        let reset = config.smoothing != self.config.smoothing
            || config.hysteresis != self.config.hysteresis;
        self.tracker.set_config(config.tracker);
        self.config = config;
        if reset {
            self.reset();
        }
    }

    /// Makes `cancel` cancel both models' runs: `process` then fails with
    /// [`crate::Error::Cancelled`] until the handle is reset.
    pub fn set_cancel(&mut self, cancel: &crate::engine::Cancel) {
        self.detector.set_cancel(cancel);
        self.classifier.set_cancel(cancel);
    }

    /// The detector.
    /// The latency cross-stream batching adds to a frame (see [`crate::engine::BatchPolicy`]).
    pub fn batch_latency(&self) -> std::time::Duration {
        self.detector
            .batch_latency()
            .max(self.classifier.batch_latency())
    }

    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    /// The classifier.
    pub fn classifier(&self) -> &ExpressionClassifier {
        &self.classifier
    }

    /// Forgets every face (new ids from 1) and restarts the frame count: call it after a seek,
    /// a flush or a change of frame size (the boxes are in frame pixels).
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.frame = 0;
        self.last_detection = None;
        self.last_full_scan = None;
    }

    /// Annotates the next frame of the stream. Frames are counted internally from the last
    /// [`reset`](Self::reset): the detector runs on the first frame and then every
    /// `inference_interval` frames. Only confirmed faces matched by the latest detector run are
    /// returned; `changes` lists their label changes (including the first label of a face).
    pub fn process(&mut self, frame: &Frame<'_>) -> Result<FrameAnnotations> {
        self.process_frame(frame, Boxes::Detector)
    }

    /// Like [`ExpressionAnnotator::process`] with the faces another detector found on this frame
    /// instead of running ours (`inference_interval` does not apply): they are tracked,
    /// classified and smoothed as usual. [`FrameAnnotations::detection_tracks`] tells which track
    /// each detection went to. Their `score` and `landmarks` are passed through as given.
    pub fn process_with_detections(
        &mut self,
        frame: &Frame<'_>,
        detections: &[Detection],
    ) -> Result<FrameAnnotations> {
        self.process_frame(frame, Boxes::Given(detections))
    }

    /// Like [`ExpressionAnnotator::process`], but never runs the detector: the tracker carries
    /// the boxes (faces keep being classified and smoothed). For frames that are already late,
    /// where falling further behind is worse than a predicted box.
    pub fn process_tracking_only(&mut self, frame: &Frame<'_>) -> Result<FrameAnnotations> {
        self.process_frame(frame, Boxes::Tracker)
    }

    /// Runs the detector as [`AnnotatorConfig::detection_mode`] says: on crops around the tracked
    /// faces when they can be trusted, else on the whole frame.
    fn detect(
        &mut self,
        frame: &Frame<'_>,
        stats: &mut ProcessStats,
    ) -> Result<(Vec<Detection>, BoxSource)> {
        self.crop_faces.clear();
        if self.config.detection_mode == DetectionMode::Roi
            && let Some(found) = self.detect_in_crops(frame, stats)?
        {
            return Ok((found, BoxSource::Roi));
        }
        stats.full_scan = true;
        self.last_full_scan = Some(self.frame);
        for track in self.tracker.tracks_mut() {
            track.state.crop_box = None;
        }
        let found = self.detector.detect(frame, &self.config.detector)?;
        Ok((found, BoxSource::Full))
    }

    /// The faces of the tracks matched by the latest detection, each found in a crop around its
    /// predicted box and calibrated ([`roi::calibrate`]); None when the whole frame must be
    /// scanned instead: a scan is due, a track has no calibration yet, the crops would cost more
    /// than one scan, or a crop lost its face, is uncertain ([`roi::pick`]) or found another
    /// track's. The crops also run on a scanned frame when they are cheaper than the scan: the
    /// faces they found are kept in `crop_faces` to calibrate their tracks with.
    fn detect_in_crops(
        &mut self,
        frame: &Frame<'_>,
        stats: &mut ProcessStats,
    ) -> Result<Option<Vec<Detection>>> {
        let n = self.frame;
        let interval = u64::from(self.config.full_scan_interval.max(1));
        let mut scan = self.last_full_scan.is_none_or(|last| n - last >= interval);
        let tracks: Vec<_> = self
            .tracker
            .tracks()
            .iter()
            .filter(|t| t.matched_last_update())
            .map(|t| {
                let predicted = t.predicted_bbox();
                // The next crop follows the crop's own box, moved as the track moves: the crop
                // is placed the same way whatever the calibration.
                let (px, py) = predicted.center();
                let (bx, by) = t.bbox().center();
                let around = t
                    .state
                    .crop_box
                    .map_or(predicted, |b| b.translate(px - bx, py - by));
                let region = roi::crop_region(&around);
                (t.id(), predicted, region, t.state.calibration)
            })
            .collect();
        if tracks.is_empty() {
            return Ok((!scan).then(Vec::new));
        }
        // Cost by pixel count: the crops against one run on the whole frame.
        let config = self.config.detector;
        let (w, h) = self
            .detector
            .input_size_for(frame.width(), frame.height(), &config);
        if tracks.len() * roi::CROP_INPUT * roi::CROP_INPUT > w * h {
            return Ok(None);
        }
        let regions: Vec<frame::Region> = tracks.iter().map(|t| t.2).collect();
        stats.crops = regions.len();
        let size = (roi::CROP_INPUT, roi::CROP_INPUT);
        let faces = self
            .detector
            .detect_regions(frame, &regions, size, &config)?;
        let frame_size = (frame.width() as f32, frame.height() as f32);
        let min_iou = self.tracker.config().iou_threshold;
        let mut found = Vec::with_capacity(faces.len());
        for (faces, &(id, predicted, region, calibration)) in faces.iter().zip(&tracks) {
            let cell = region.width as f32 * detect::STRIDE as f32 / roi::CROP_INPUT as f32;
            match roi::pick(faces, &predicted, &region, frame_size, cell, min_iou) {
                roi::Pick::Found(face) => {
                    self.crop_faces.push((id, face));
                    match calibration {
                        Some(c) => found.push(roi::calibrate(&face, &c, frame_size)),
                        None => scan = true,
                    }
                }
                roi::Pick::Uncertain(_) | roi::Pick::Lost => scan = true,
            }
        }
        // Two tracks' crops found the same face: the tracks were about to merge, or one of them
        // is a duplicate; the whole frame decides.
        if scan || detect::suppress(&found, config.nms_threshold).len() < found.len() {
            return Ok(None);
        }
        for &(id, face) in &self.crop_faces {
            if let Some(track) = self.tracker.get_mut(id) {
                track.state.crop_box = Some(face.bbox);
            }
        }
        self.crop_faces.clear();
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        if config.max_faces > 0 {
            found.truncate(config.max_faces);
        }
        Ok(Some(found))
    }

    fn process_frame(&mut self, frame: &Frame<'_>, boxes: Boxes<'_>) -> Result<FrameAnnotations> {
        let start = Instant::now();
        let n = self.frame;
        let mut stats = ProcessStats {
            frame: n,
            ..ProcessStats::default()
        };
        let interval = u64::from(self.config.inference_interval.max(1));
        let run_detector = matches!(boxes, Boxes::Detector)
            && self.last_detection.is_none_or(|last| n - last >= interval);
        let detected;
        let (detections, source) = match boxes {
            Boxes::Given(given) => (Some(given), BoxSource::Upstream),
            Boxes::Detector if run_detector => {
                let t = Instant::now();
                let source;
                (detected, source) = self.detect(frame, &mut stats)?;
                stats.detect_time = t.elapsed();
                stats.detector_ran = true;
                (Some(&detected[..]), source)
            }
            _ => (None, BoxSource::Predicted),
        };
        let mut detection_tracks = Vec::new();
        if let Some(detections) = detections {
            stats.detections = detections.len();
            let boxes: Vec<BBox> = detections.iter().map(|d| d.bbox).collect();
            detection_tracks = self.tracker.update(&boxes);
            for (det, &id) in detections.iter().zip(&detection_tracks) {
                if let Some(track) = self.tracker.get_mut(id) {
                    if let Some((_, face)) = self.crop_faces.iter().find(|(t, _)| *t == id) {
                        track.state.calibration = Some(roi::calibration(&face.bbox, &det.bbox));
                    }
                    track.state.score = det.score;
                    track.state.landmarks = det.landmarks;
                    track.state.landmarks_box = det.bbox;
                }
            }
            self.last_detection = Some(n);
        } else {
            self.tracker.predict();
        }
        self.frame += 1;

        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let classify_interval = u64::from(self.config.classify_interval.max(1));
        let mut to_classify: Vec<(u64, BBox)> = Vec::new();
        for track in self.tracker.tracks() {
            let bbox = track.bbox().clip(fw, fh);
            if !track.matched_last_update() || !bbox.is_valid() {
                continue;
            }
            let due = track
                .state
                .last_classified
                .is_none_or(|last| n - last >= classify_interval);
            if due {
                to_classify.push((track.id(), bbox));
            }
        }
        if !to_classify.is_empty() {
            let t = Instant::now();
            let boxes: Vec<BBox> = to_classify.iter().map(|&(_, b)| b).collect();
            let probabilities = self.classifier.classify(frame, &boxes)?;
            stats.classify_time = t.elapsed();
            stats.classified = boxes.len();
            let (smoothing, hysteresis) = (self.config.smoothing, self.config.hysteresis);
            for ((id, _), raw) in to_classify.iter().zip(&probabilities) {
                if let Some(track) = self.tracker.get_mut(*id) {
                    let smoother = track
                        .state
                        .smoother
                        .get_or_insert_with(|| ExpressionSmoother::new(smoothing, hysteresis));
                    if let Some((old, new)) = smoother.update(raw) {
                        let old = track.state.unreported.map_or(old, |(first, _)| first);
                        track.state.unreported = Some((old, new));
                    }
                    track.state.last_classified = Some(n);
                }
            }
        }

        let labels = self.classifier.labels();
        let label = |i: usize| labels.get(i).cloned().unwrap_or_default();
        let tracker_config = *self.tracker.config();
        let mut faces = Vec::new();
        let mut changes = Vec::new();
        for track in self.tracker.tracks_mut() {
            if !track.is_visible(&tracker_config) {
                continue;
            }
            let id = track.id();
            let bbox = track.bbox().clip(fw, fh);
            let frames_tracked = track.frames_tracked();
            let (nx, ny) = track.bbox().center();
            let state = &mut track.state;
            let Some(smoother) = state.smoother.as_ref() else {
                continue;
            };
            let Some(label_index) = smoother.label() else {
                continue;
            };
            let raw_probabilities = smoother.raw().to_vec();
            let raw_label_index = temporal::argmax(&raw_probabilities).map_or(0, |(i, _)| i);
            let probabilities = smoother.probabilities().to_vec();
            // Reported only now that the face is visible; back where it was reported from is no
            // change.
            if let Some((old, new)) = state.unreported.take()
                && old != Some(new)
            {
                changes.push(ExpressionChange {
                    track_id: id,
                    old: old.map(label),
                    new: label(new),
                });
            }
            let (ox, oy) = state.landmarks_box.center();
            faces.push(FaceAnnotation {
                track_id: id,
                bbox,
                detection_confidence: state.score,
                landmarks: state.landmarks.map(|(x, y)| (x + nx - ox, y + ny - oy)),
                label: label(label_index),
                label_index,
                confidence: probabilities.get(label_index).copied().unwrap_or(0.0),
                raw_label: label(raw_label_index),
                raw_label_index,
                probabilities,
                raw_probabilities,
                frames_tracked,
                detected: run_detector,
                classified: state.last_classified == Some(n),
                box_source: source,
            });
        }
        stats.total_time = start.elapsed();
        tracing::trace!(
            frame = n,
            detector = stats.detector_ran,
            full_scan = stats.full_scan,
            crops = stats.crops,
            faces = faces.len(),
            classified = stats.classified,
            detect_us = stats.detect_time.as_micros() as u64,
            classify_us = stats.classify_time.as_micros() as u64,
            total_us = stats.total_time.as_micros() as u64,
            "annotated"
        );
        Ok(FrameAnnotations {
            detection_tracks,
            faces,
            changes,
            stats,
        })
    }
}
