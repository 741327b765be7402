// SPDX-License-Identifier: MPL-2.0
//! `faceexpression` finds faces in video, follows each with a stable track id, classifies its
//! expression and smooths it over time per track, then attaches the result to the buffer.
//!
//! The pixels pass through untouched (in place, mapped read-only). Per face, the buffer gets a
//! `GstVideoRegionOfInterestMeta` of type `face` (box in frame pixels, `id` = track id) with three
//! param structures:
//! * `expression`: `label` (string, smoothed), `confidence` (double), `raw-label` (string, this
//!   frame's classifier output), `track-id` (uint64), `frames` (uint64, frames tracked so far),
//!   `detection-confidence` (double), `box-source` (string: `full`, `roi`, `predicted`,
//!   `upstream`);
//! * `probabilities`: one double field per class label (smoothed);
//! * `landmarks`: `x0 y0 … x4 y4` (doubles, frame pixels: eyes, nose, mouth corners).
//!
//! Bus element messages (`post-messages`): `expression-changed` (`track-id`, `old-label` — empty
//! for a new face —, `new-label`, `pts`) and, with `every-frame`, `faceexpression` (`pts`,
//! `faces` count, `detector-ran`, and `face-0`, `face-1`, … structures with `track-id`, `label`, `confidence`,
//! `x`, `y`, `width`, `height`).
//!
//! With `detection-mode=roi` the detector looks only at a crop around each tracked face (all
//! crops in one batch, at the frame's own resolution), and at the whole frame every
//! `full-scan-interval` frames, at once when a crop loses its face or is uncertain, and when the
//! crops would cost more than the whole frame (`neural_media::face::roi`).
//! The detector runs every `inference-interval` frames (the tracker carries the boxes between)
//! and, with `qos` on, is skipped on frames that downstream reports as late, rather than falling
//! behind. With `pipelined`, each frame is analysed on a worker thread while the streaming thread
//! goes back upstream for the next one (decoding, converting), and is pushed when the next frame
//! arrives or at the next serialized event: one frame more latency, reported in latency queries.
//! Tracks reset on flush, stream-start and caps change. Models load when the element goes
//! READY→PAUSED; a missing or wrong model fails that state change with an error naming the file.
//!
//! The models come from the process-wide engine (`neural_media::engine`): with `threads=0` (the
//! default) every `faceexpression` that loads the same files with the same `execution-provider`
//! and `model-instance` shares them, and their runs share one thread budget for the process. A
//! flush or a change to READY terminates this element's model run in progress. No lock that a
//! query or a property read takes is held across a model run.
//!
//! ```sh
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! \
//!     faceexpression ! expressionoverlay show-probabilities=true ! videoconvert ! \
//!     video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location=out.mp4
//! ```
//! (`pipelines/annotate-video.sh`.)

use std::sync::{LazyLock, Mutex};

use crate::ExecutionProvider;
use crate::formats;
use crate::meta::{self, FaceMeta};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_transform::GenerateOutputSuccess;
use gst_base::subclass::prelude::*;
use neural_media::engine::Cancel;
use neural_media::face::{self, ExpressionAnnotator};
use neural_media::runtime::SessionOptions;

use super::settings::*;
use super::worker::Worker;
use super::{DetectionSource, PostMessages, Smoothing, messages};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "faceexpression",
        gst::DebugColorFlags::empty(),
        Some("Facial expression analytics"),
    )
});

/// What queries and property reads need: never locked across a model run.
struct State {
    info: Option<gst_video::VideoInfo>,
    provider: &'static str,
    /// What cross-stream batching adds to a frame's latency.
    batch_latency: gst::ClockTime,
}

#[derive(Default)]
pub struct FaceExpression {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The models and the tracks. Locked for a frame's analysis by the streaming thread (or the
    /// `pipelined` worker), and otherwise only by serialized paths (caps, flush stop, start/stop).
    analysis: Mutex<Option<ExpressionAnnotator>>,
    /// Terminates this element's model runs (flush start, PAUSED→READY).
    cancel: Cancel,
    /// Earliest running time downstream still wants, from its last QoS event.
    earliest: Mutex<Option<gst::ClockTime>>,
    /// With `pipelined`: the analysis thread.
    worker: Mutex<Option<Worker>>,
}

fn model_path(property: &Option<String>, default: &str) -> std::path::PathBuf {
    match property {
        Some(p) if !p.is_empty() => p.into(),
        _ => neural_media::assets::data_file(default),
    }
}

impl FaceExpression {
    fn post(&self, structure: gst::Structure) {
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(structure).src(&*obj).build());
    }

    /// Whether downstream already reported this buffer's time as too late.
    fn is_late(&self, buffer: &gst::BufferRef) -> bool {
        let obj = self.obj();
        if !obj.is_qos() {
            return false;
        }
        let Some(earliest) = *self.earliest.lock().unwrap() else {
            return false;
        };
        let segment = obj.segment();
        let Some(segment) = segment.downcast_ref::<gst::ClockTime>() else {
            return false;
        };
        let Some(running) = buffer.pts().and_then(|pts| segment.to_running_time(pts)) else {
            return false;
        };
        running + buffer.duration().unwrap_or_default() < earliest
    }

    fn reset(&self, why: &str) {
        if let Some(annotator) = self.analysis.lock().unwrap().as_mut() {
            gst::debug!(CAT, imp = self, "resetting tracks: {why}");
            annotator.reset();
        }
        *self.earliest.lock().unwrap() = None;
    }

    /// detection-source=upstream: writes each confirmed face's params onto the meta it came from
    /// (the track id into its `id`), without the fields another detector does not give
    /// (landmarks, detection confidence). Metas of faces not confirmed yet are left as they are.
    fn fill_upstream_metas(
        &self,
        buffer: &mut gst::BufferRef,
        result: &face::FrameAnnotations,
        labels: &[String],
    ) {
        let metas = buffer
            .iter_meta_mut::<gst_video::VideoRegionOfInterestMeta>()
            .filter(|m| meta::is_face(m));
        for (mut roi, track) in metas.zip(&result.detection_tracks) {
            let Some(face) = result.faces.iter().find(|f| f.track_id == *track) else {
                continue;
            };
            let mut filled = FaceMeta::from_annotation(face, labels);
            filled.landmarks = None;
            if let Some(expression) = filled.expression.as_mut() {
                expression.detection_confidence = None;
            }
            meta::fill(&mut roi, &filled);
        }
    }

    /// Waits for the frame with the `pipelined` worker, if any, and gives it back.
    fn finish_pending(&self) -> Result<Option<gst::Buffer>, gst::FlowError> {
        let Some(result) = self
            .worker
            .lock()
            .unwrap()
            .as_mut()
            .and_then(Worker::finish)
        else {
            return Ok(None);
        };
        result.map(Some)
    }

    /// Pushes the frame the worker holds, before a serialized event or query passes it.
    fn drain(&self) {
        match self.finish_pending() {
            Ok(Some(buffer)) => {
                if let Err(flow) = self.obj().src_pad().push(buffer) {
                    gst::debug!(CAT, imp = self, "draining the last frame: {flow:?}");
                }
            }
            Ok(None) => {}
            // The error is on the bus already.
            Err(flow) => gst::debug!(CAT, imp = self, "draining the last frame: {flow:?}"),
        }
    }

    /// Analyses one frame and attaches the result to it (what transform_ip does).
    pub(super) fn annotate(
        &self,
        buffer: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let late = self.is_late(buffer);
        let info = {
            let state = self.state.lock().unwrap();
            let state = state.as_ref().ok_or(gst::FlowError::Flushing)?;
            state.info.clone().ok_or(gst::FlowError::NotNegotiated)?
        };
        // With detection-source=upstream: the face metas another element put on the buffer.
        let upstream = (settings.detection_source == DetectionSource::Upstream).then(|| {
            meta::faces(buffer)
                .iter()
                .map(|roi| {
                    let (x, y, w, h) = roi.rect;
                    let (x2, y2) = (x.saturating_add(w), y.saturating_add(h));
                    face::Detection {
                        bbox: face::BBox::new(x as f32, y as f32, x2 as f32, y2 as f32),
                        score: 0.0,
                        landmarks: [(0.0, 0.0); 5],
                    }
                })
                .collect::<Vec<_>>()
        });
        let mut guard = self.analysis.lock().unwrap();
        let annotator = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let config = settings.annotator_config();
        if *annotator.config() != config {
            annotator.set_config(config);
        }
        let result = {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).map_err(
                |_| {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("buffer is smaller than its caps say")
                    );
                    gst::FlowError::Error
                },
            )?;
            let frame = formats::core_frame(&frame).map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("cannot read the frame: {e}")
                );
                gst::FlowError::Error
            })?;
            if let Some(detections) = upstream.as_deref() {
                annotator.process_with_detections(&frame, detections)
            } else if late {
                gst::debug!(
                    CAT,
                    imp = self,
                    "late frame {:?}: detector skipped",
                    buffer.pts()
                );
                annotator.process_tracking_only(&frame)
            } else {
                annotator.process(&frame)
            }
        };
        let result = match result {
            Ok(result) => result,
            Err(neural_media::Error::Cancelled) => {
                gst::debug!(CAT, imp = self, "analysis of {:?} cancelled", buffer.pts());
                return Err(gst::FlowError::Flushing);
            }
            Err(e) => {
                return Err(neural_media_gst::stream_failed(
                    &*self.obj(),
                    format_args!("face analysis failed: {e}"),
                ));
            }
        };
        let labels = annotator.labels().to_vec();
        drop(guard);
        let stats = &result.stats;
        gst::log!(
            CAT,
            imp = self,
            "frame {}: {} faces, detector {} ({:?}), classified {} ({:?}), total {:?}",
            stats.frame,
            result.faces.len(),
            stats.detector_ran,
            stats.detect_time,
            stats.classified,
            stats.classify_time,
            stats.total_time
        );
        if upstream.is_some() {
            self.fill_upstream_metas(buffer, &result, &labels);
        } else {
            for face in &result.faces {
                meta::write(buffer, &FaceMeta::from_annotation(face, &labels));
            }
        }
        for structure in messages::structures(&result, buffer.pts(), settings.post_messages) {
            self.post(structure);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FaceExpression {
    const NAME: &'static str = "GstNmFaceExpression";
    type Type = super::FaceExpression;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceExpression {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = vec![
                glib::ParamSpecString::builder("detector-model")
                    .nick("Detector model")
                    .blurb("CenterFace face detector (.onnx); default: the provisioned one")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("classifier-model")
                    .nick("Classifier model")
                    .blurb("Expression classifier (.onnx) with its descriptor (.onnx.json) beside it; default: the provisioned mini-Xception")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("detection-size")
                    .nick("Detection size")
                    .blurb("Long side, in pixels, of the downscaled copy the detector sees (rounded to a multiple of 32; 0: the frame's size)")
                    .maximum(4096)
                    .default_value(DEFAULT_DETECTION_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("detection-threshold")
                    .nick("Detection threshold")
                    .blurb("Minimum detector score of a face")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_DETECTION_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("nms-threshold")
                    .nick("NMS threshold")
                    .blurb("IoU above which the weaker of two overlapping detections is dropped")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NMS_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb("Faces whose shorter side is smaller, in frame pixels, are ignored")
                    .maximum(8192)
                    .default_value(DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("At most this many faces per frame, highest scores first (0: no limit)")
                    .maximum(1024)
                    .default_value(DEFAULT_MAX_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("detection-mode", DEFAULT_DETECTION_MODE)
                    .nick("Detection mode")
                    .blurb("Where the detector looks: full (the whole frame, at detection-size) or roi (a crop around each tracked face, seen at the frame's own resolution, all crops in one batch; the whole frame every full-scan-interval frames, at once when a crop loses its face or is uncertain, and when the crops would cost more). roi: a new face is confirmed up to full-scan-interval - 1 frames later than with full")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("full-scan-interval")
                    .nick("Full-scan interval")
                    .blurb("detection-mode=roi: scan the whole frame for new faces once this many frames have passed since the last whole-frame scan")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_FULL_SCAN_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("inference-interval")
                    .nick("Inference interval")
                    .blurb("Run the detector on one frame in this many; the tracker carries the boxes between")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INFERENCE_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("classify-interval")
                    .nick("Classify interval")
                    .blurb("Re-classify each face once in this many frames (new faces at once)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_CLASSIFY_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("smoothing", Smoothing::default())
                    .nick("Smoothing")
                    .blurb("Temporal model of each face's expression")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("stickiness")
                    .nick("Stickiness")
                    .blurb("hmm: probability that the expression stays the same from one frame to the next; ema: weight of the past")
                    .minimum(0.0)
                    .maximum(0.999)
                    .default_value(DEFAULT_STICKINESS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("post-messages", PostMessages::default())
                    .nick("Post messages")
                    .blurb("Which element messages to post on the bus")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("detection-source", DetectionSource::Model)
                    .nick("Detection source")
                    .blurb("Where the face boxes come from: model (our detector; face metas from upstream are left as they are) or upstream (no detector runs: the face ROI metas already on the buffer, e.g. OpenCV facedetect's, are tracked, classified and get the params, without landmarks and detection-confidence)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-batch")
                    .nick("Max batch")
                    .blurb("Most requests of elements sharing a model (see model-instance) that run as one batch; 0 = chosen by execution provider: batching on CUDA/TensorRT (8), off on the CPU, where it gains nothing; 1 = never batch")
                    .default_value(DEFAULT_MAX_BATCH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Milliseconds the first request of a batch waits for other streams' requests (a batch also starts as soon as every active stream has joined it); added to the latency when batching is on")
                    .default_value(DEFAULT_BATCH_TIMEOUT_MS)
                    .maximum(1000)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("pipelined")
                    .nick("Pipelined")
                    .blurb("Analyse each frame on a worker thread while the streaming thread fetches the next one from upstream (decoding overlaps inference); adds one frame of latency")
                    .default_value(DEFAULT_PIPELINED)
                    .mutable_ready()
                    .build(),
            ];
            // After the two model paths: where they run.
            props.splice(2..2, ExecutionProvider::properties("Where the models run"));
            props
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        neural_media_gst::name_after_factory(self.obj().upcast_ref());
        self.obj().set_qos(DEFAULT_QOS);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let v = value;
        match pspec.name() {
            "detector-model" => s.detector_model = v.get().expect("type checked upstream"),
            "classifier-model" => s.classifier_model = v.get().expect("type checked upstream"),
            "execution-provider" => s.execution_provider = v.get().expect("type checked upstream"),
            "threads" => s.threads = v.get().expect("type checked upstream"),
            "model-instance" => {
                s.model_instance = v
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "detection-size" => s.detection_size = v.get().expect("type checked upstream"),
            "detection-threshold" => {
                s.detection_threshold = v.get().expect("type checked upstream")
            }
            "nms-threshold" => s.nms_threshold = v.get().expect("type checked upstream"),
            "min-face-size" => s.min_face_size = v.get().expect("type checked upstream"),
            "max-faces" => s.max_faces = v.get().expect("type checked upstream"),
            "inference-interval" => s.inference_interval = v.get().expect("type checked upstream"),
            "classify-interval" => s.classify_interval = v.get().expect("type checked upstream"),
            "smoothing" => s.smoothing = v.get().expect("type checked upstream"),
            "stickiness" => s.stickiness = v.get().expect("type checked upstream"),
            "post-messages" => s.post_messages = v.get().expect("type checked upstream"),
            "pipelined" => s.pipelined = v.get().expect("type checked upstream"),
            "max-batch" => s.max_batch = v.get().expect("type checked upstream"),
            "batch-timeout" => s.batch_timeout_ms = v.get().expect("type checked upstream"),
            "detection-source" => s.detection_source = v.get().expect("type checked upstream"),
            "detection-mode" => s.detection_mode = v.get().expect("type checked upstream"),
            "full-scan-interval" => s.full_scan_interval = v.get().expect("type checked upstream"),
            name => unimplemented!("property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "active-execution-provider" {
            let state = self.state.lock().unwrap();
            return state.as_ref().map(|s| s.provider).to_value();
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "detector-model" => s.detector_model.to_value(),
            "classifier-model" => s.classifier_model.to_value(),
            "execution-provider" => s.execution_provider.to_value(),
            "threads" => s.threads.to_value(),
            "model-instance" => s.model_instance.to_value(),
            "detection-size" => s.detection_size.to_value(),
            "detection-threshold" => s.detection_threshold.to_value(),
            "nms-threshold" => s.nms_threshold.to_value(),
            "min-face-size" => s.min_face_size.to_value(),
            "max-faces" => s.max_faces.to_value(),
            "inference-interval" => s.inference_interval.to_value(),
            "classify-interval" => s.classify_interval.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "stickiness" => s.stickiness.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "pipelined" => s.pipelined.to_value(),
            "max-batch" => s.max_batch.to_value(),
            "batch-timeout" => s.batch_timeout_ms.to_value(),
            "detection-source" => s.detection_source.to_value(),
            "detection-mode" => s.detection_mode.to_value(),
            "full-scan-interval" => s.full_scan_interval.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for FaceExpression {}

impl ElementImpl for FaceExpression {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            // Before the base class deactivates the pads (which waits for the streaming thread).
            self.cancel.cancel();
        }
        self.parent_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Facial expression analytics",
                "Filter/Analyzer/Video",
                "Detects and tracks faces, classifies and smooths their expression per track, and attaches face ROI metas",
                "neural-media developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            formats::filter_pad_templates(
                formats::packed_rgb_formats()
                    .chain([gst_video::VideoFormat::I420, gst_video::VideoFormat::Nv12]),
            )
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceExpression {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let options = SessionOptions {
            execution_provider: settings.execution_provider.into(),
            threads: settings.threads as usize,
            instance: settings.model_instance.clone(),
            batch: settings.batch_policy(),
            ..SessionOptions::default()
        };
        let detector = model_path(
            &settings.detector_model,
            neural_media::assets::DEFAULT_FACE_DETECTOR,
        );
        let classifier = model_path(
            &settings.classifier_model,
            neural_media::assets::DEFAULT_EXPRESSION_CLASSIFIER,
        );
        let mut annotator = ExpressionAnnotator::load(
            &detector,
            &classifier,
            None,
            &options,
            settings.annotator_config(),
        )
        .map_err(|e| neural_media_gst::start_error(&e))?;
        gst::info!(
            CAT,
            imp = self,
            "models loaded ({} / {}) on {}",
            detector.display(),
            classifier.display(),
            annotator.detector().provider()
        );
        annotator.set_cancel(&self.cancel);
        self.cancel.reset();
        *self.state.lock().unwrap() = Some(State {
            info: None,
            provider: annotator.detector().provider().as_str(),
            batch_latency: gst::ClockTime::try_from(annotator.batch_latency())
                .unwrap_or(gst::ClockTime::ZERO),
        });
        *self.analysis.lock().unwrap() = Some(annotator);
        *self.earliest.lock().unwrap() = None;
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Ends the worker thread (after its frame, whose run change_state cancelled).
        *self.worker.lock().unwrap() = None;
        *self.analysis.lock().unwrap() = None;
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        let changed = {
            let mut state = self.state.lock().unwrap();
            let state = state
                .as_mut()
                .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
            if state.info.as_ref() == Some(&info) {
                return Ok(());
            }
            state.info.replace(info).is_some()
        };
        if changed {
            self.reset(&format!("caps changed to {incaps}"));
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            // Ends the model run in progress: the streaming thread (or the worker) returns
            // FLUSHING at once rather than after the run.
            gst::EventView::FlushStart(_) => self.cancel.cancel(),
            gst::EventView::FlushStop(_) => {
                // The frame with the worker belongs to the flushed data.
                let _ = self.finish_pending();
                self.cancel.reset();
                self.reset("flush");
            }
            gst::EventView::StreamStart(_) => {
                self.drain();
                self.reset("stream-start");
            }
            // Other serialized events pass the held frame only after it.
            _ if event.is_serialized() => self.drain(),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Qos(qos) = event.view() {
            // Keep the base class from dropping frames: late frames skip detection instead.
            let (_, _, diff, timestamp) = qos.get();
            if let Some(ts) = timestamp {
                let earliest = if diff > 0 {
                    ts + gst::ClockTime::from_nseconds(diff as u64)
                } else {
                    ts
                };
                *self.earliest.lock().unwrap() = Some(earliest);
            }
            return self
                .obj()
                .sink_pads()
                .first()
                .is_some_and(|pad| pad.push_event(event));
        }
        self.parent_src_event(event)
    }

    fn transform_ip(
        &self,
        buffer: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.annotate(buffer)
    }

    fn generate_output(&self) -> Result<GenerateOutputSuccess, gst::FlowError> {
        if !self.settings.lock().unwrap().pipelined {
            return self.parent_generate_output();
        }
        let Some(buffer) = self.take_queued_buffer() else {
            return Ok(GenerateOutputSuccess::NoOutput);
        };
        let previous = self.finish_pending()?;
        let mut worker = self.worker.lock().unwrap();
        if worker.is_none() {
            *worker = Some(Worker::spawn(&self.obj()).map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Failed,
                    ("cannot start the analysis thread: {e}")
                );
                gst::FlowError::Error
            })?);
        }
        if let Some(worker) = worker.as_mut() {
            worker.submit(buffer)?;
        }
        Ok(previous.map_or(
            GenerateOutputSuccess::NoOutput,
            GenerateOutputSuccess::Buffer,
        ))
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if direction == gst::PadDirection::Sink && query.is_serialized() {
            // Keep the order of buffers and serialized queries (drain, allocation).
            self.drain();
        }
        if !BaseTransformImplExt::parent_query(self, direction, query) {
            return false;
        }
        if let gst::QueryViewMut::Latency(q) = query.view_mut()
            && direction == gst::PadDirection::Src
        {
            let pipelined = self.settings.lock().unwrap().pipelined;
            let (frame, batch) = self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .map(|s| {
                    // With `pipelined` a frame waits here for the next one: one frame more.
                    let frame = s
                        .info
                        .as_ref()
                        .map(|i| i.fps())
                        .filter(|fps| pipelined && fps.numer() > 0)
                        .and_then(|fps| {
                            gst::ClockTime::SECOND
                                .mul_div_ceil(fps.denom() as u64, fps.numer() as u64)
                        });
                    (frame.unwrap_or(gst::ClockTime::ZERO), s.batch_latency)
                })
                .unwrap_or((gst::ClockTime::ZERO, gst::ClockTime::ZERO));
            let extra = frame + batch;
            let (live, min, max) = q.result();
            q.set(live, min + extra, max.map(|max| max + extra));
        }
        true
    }
}
