// SPDX-License-Identifier: MPL-2.0
//! `analyticsjson` writes the face metas that `faceexpression` attaches as JSON Lines: one JSON
//! object per frame, with field names close to DL Streamer's `gvametaconvert` (`timestamp`,
//! `resolution`, `objects[].detection.bounding_box` normalised to 0..1, `x`/`y`/`w`/`h` in pixels)
//! plus each face's `expression`, `landmarks` and `frames`. It is a passthrough filter: buffers
//! and metas go downstream untouched.
//!
//! Properties: `output` (`file`, `stdout` or `mqtt`), `location` (the file; `-` = stdout),
//! `mqtt-address` (`host:port`), `mqtt-topic`, `mqtt-client-id`, `source-id` (copied into every
//! record as `source`), `include-empty` (also write frames without faces).
//!
//! With `output=mqtt` each record is one QoS 1 message; the element waits for the broker's PUBACK
//! before passing the buffer on, so every frame written before a clean EOS reached the broker. A
//! file is flushed on EOS. For a file *and* MQTT, chain two elements
//! (`analyticsjson location=a.jsonl ! analyticsjson output=mqtt`).
//!
//! ```sh
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! \
//!     faceexpression ! analyticsjson location=faces.jsonl ! fakesink
//! ```
//! (`pipelines/analytics-record.sh` does the same while recording the video.)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::Output;
use super::json::{
    BoundingBox, Detection, Expression, FaceObject, FrameRecord, Probabilities, Resolution,
};
use super::mqtt::{self, MqttPublisher};
use crate::meta::{self, FaceMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "analyticsjson",
        gst::DebugColorFlags::empty(),
        Some("Face metadata to JSON lines / MQTT"),
    )
});

const DEFAULT_OUTPUT: Output = Output::File;
const DEFAULT_MQTT_ADDRESS: &str = "localhost:1883";
const DEFAULT_MQTT_TOPIC: &str = "faceexpression";
const DEFAULT_INCLUDE_EMPTY: bool = true;
/// Bounds the TCP connect and each wait for CONNACK / PUBACK.
const MQTT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Settings {
    output: Output,
    location: Option<String>,
    mqtt_address: String,
    mqtt_topic: String,
    mqtt_client_id: Option<String>,
    source_id: Option<String>,
    include_empty: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            output: DEFAULT_OUTPUT,
            location: None,
            mqtt_address: DEFAULT_MQTT_ADDRESS.to_owned(),
            mqtt_topic: DEFAULT_MQTT_TOPIC.to_owned(),
            mqtt_client_id: None,
            source_id: None,
            include_empty: DEFAULT_INCLUDE_EMPTY,
        }
    }
}

/// Where records go while running.
enum Sink {
    File {
        writer: BufWriter<File>,
        path: String,
    },
    Stdout,
    Mqtt {
        publisher: MqttPublisher,
        topic: mqtt::TopicName,
    },
}

struct State {
    sink: Sink,
    resolution: Option<Resolution>,
    records: u64,
}

#[derive(Default)]
pub struct AnalyticsJson {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// One face of the record, from its ROI meta; absent param fields are left out.
fn face_object(meta: FaceMeta, resolution: Resolution) -> FaceObject {
    let (x, y, w, h) = meta.rect;
    let has_expression = meta.expression.is_some() || meta.probabilities.is_some();
    let param = meta.expression.unwrap_or_default();
    let expression = has_expression.then(|| Expression {
        label: param.label,
        confidence: param.confidence,
        raw_label: param.raw_label,
        box_source: param.box_source,
        probabilities: Probabilities(meta.probabilities.unwrap_or_default()),
    });
    FaceObject {
        id: param
            .track_id
            .and_then(|id| i64::try_from(id).ok())
            .unwrap_or(i64::from(meta.id)),
        detection: Detection {
            bounding_box: BoundingBox::normalised(meta.rect, resolution),
            confidence: param.detection_confidence,
            label: meta::ROI_TYPE.to_string(),
            label_id: 0,
        },
        x,
        y,
        w,
        h,
        expression,
        landmarks: meta
            .landmarks
            .unwrap_or_default()
            .into_iter()
            .map(|(x, y)| [x, y])
            .collect(),
        frames: param.frames,
    }
}

impl AnalyticsJson {
    fn open(&self, settings: &Settings) -> Result<Sink, gst::ErrorMessage> {
        match settings.output {
            Output::Stdout => Ok(Sink::Stdout),
            Output::File => match settings.location.as_deref() {
                None | Some("") => Err(gst::error_msg!(
                    gst::ResourceError::NotFound,
                    ("No file name specified for writing (set 'location', or output=stdout)")
                )),
                Some("-") => Ok(Sink::Stdout),
                Some(path) => {
                    let file = File::create(path).map_err(|e| {
                        gst::error_msg!(
                            gst::ResourceError::OpenWrite,
                            ("Could not open file \"{}\" for writing.", path),
                            ["{e}"]
                        )
                    })?;
                    Ok(Sink::File {
                        writer: BufWriter::new(file),
                        path: path.to_owned(),
                    })
                }
            },
            Output::Mqtt => {
                let topic = mqtt::topic_name(&settings.mqtt_topic)
                    .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{e}")))?;
                let client_id = settings.mqtt_client_id.clone().unwrap_or_else(|| {
                    format!(
                        "gst-analyticsjson-{}-{}",
                        std::process::id(),
                        self.obj().name()
                    )
                });
                let publisher =
                    MqttPublisher::connect(&settings.mqtt_address, &client_id, MQTT_TIMEOUT)
                        .map_err(|e| {
                            gst::error_msg!(
                                gst::ResourceError::OpenWrite,
                                (
                                    "Could not connect to the MQTT broker at {}.",
                                    settings.mqtt_address
                                ),
                                ["{e}"]
                            )
                        })?;
                gst::info!(
                    CAT,
                    imp = self,
                    "connected to MQTT broker at {} as {client_id}, topic {}",
                    publisher.address(),
                    settings.mqtt_topic
                );
                Ok(Sink::Mqtt { publisher, topic })
            }
        }
    }

    /// Writes the record of one buffer.
    fn record(&self, buffer: &gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (source, include_empty) = {
            let settings = self.settings.lock().unwrap();
            (settings.source_id.clone(), settings.include_empty)
        };
        let mut state = self.state.lock().unwrap();
        let Some(state) = state.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        let Some(resolution) = state.resolution else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let objects: Vec<FaceObject> = meta::faces(buffer)
            .into_iter()
            .map(|face| face_object(face, resolution))
            .collect();
        if objects.is_empty() && !include_empty {
            return Ok(gst::FlowSuccess::Ok);
        }
        let record = FrameRecord {
            timestamp: buffer.pts().map(gst::ClockTime::nseconds),
            resolution,
            source,
            objects,
        };
        let json = record.to_json().map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                ("JSON encoding failed: {e}")
            );
            gst::FlowError::Error
        })?;
        self.write(&mut state.sink, &json)?;
        state.records += 1;
        gst::trace!(
            CAT,
            imp = self,
            "record {} with {} faces",
            state.records,
            record.objects.len()
        );
        Ok(gst::FlowSuccess::Ok)
    }

    fn write(&self, sink: &mut Sink, json: &[u8]) -> Result<(), gst::FlowError> {
        let result = match sink {
            Sink::File { writer, path } => writer
                .write_all(json)
                .and_then(|()| writer.write_all(b"\n"))
                .map_err(|e| format!("Could not write to file \"{path}\": {e}")),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(json)
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush())
                    .map_err(|e| format!("Could not write to stdout: {e}"))
            }
            Sink::Mqtt { publisher, topic } => publisher.publish(topic, json).map_err(|e| {
                format!(
                    "Could not publish to the MQTT broker at {}: {e}",
                    publisher.address()
                )
            }),
        };
        result.map_err(|message| {
            gst::element_imp_error!(self, gst::ResourceError::Write, ("{message}"));
            gst::FlowError::Error
        })
    }

    /// Flushes a file sink; the others keep nothing buffered.
    fn flush(sink: &mut Sink) -> Result<(), String> {
        match sink {
            Sink::File { writer, path } => writer
                .flush()
                .map_err(|e| format!("Could not write to file \"{path}\": {e}")),
            Sink::Stdout | Sink::Mqtt { .. } => Ok(()),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for AnalyticsJson {
    const NAME: &'static str = "GstNmAnalyticsJson";
    type Type = super::AnalyticsJson;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for AnalyticsJson {
    fn constructed(&self) {
        self.parent_constructed();
        neural_media_gst::name_after_factory(self.obj().upcast_ref());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("output", DEFAULT_OUTPUT)
                    .nick("Output")
                    .blurb("Where the JSON lines go: a file, stdout or an MQTT broker")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("File to write JSON lines to with output=file ('-' = stdout)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-address")
                    .nick("MQTT address")
                    .blurb("MQTT broker as host:port, with output=mqtt")
                    .default_value(Some(DEFAULT_MQTT_ADDRESS))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-topic")
                    .nick("MQTT topic")
                    .blurb("Topic every frame's JSON is published to (QoS 1), with output=mqtt")
                    .default_value(Some(DEFAULT_MQTT_TOPIC))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-client-id")
                    .nick("MQTT client id")
                    .blurb(
                        "MQTT client identifier (default: gst-analyticsjson-<pid>-<element name>)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("source-id")
                    .nick("Source id")
                    .blurb("Written as \"source\" into every record (left out when unset)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("include-empty")
                    .nick("Include empty frames")
                    .blurb("Also write frames without faces (with \"objects\": [])")
                    .default_value(DEFAULT_INCLUDE_EMPTY)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "output" => settings.output = value.get().expect("type checked upstream"),
            "location" => settings.location = value.get().expect("type checked upstream"),
            "mqtt-address" => {
                settings.mqtt_address = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_MQTT_ADDRESS.to_owned())
            }
            "mqtt-topic" => {
                settings.mqtt_topic = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_MQTT_TOPIC.to_owned())
            }
            "mqtt-client-id" => {
                settings.mqtt_client_id = value.get().expect("type checked upstream")
            }
            "source-id" => settings.source_id = value.get().expect("type checked upstream"),
            "include-empty" => settings.include_empty = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "output" => settings.output.to_value(),
            "location" => settings.location.to_value(),
            "mqtt-address" => settings.mqtt_address.to_value(),
            "mqtt-topic" => settings.mqtt_topic.to_value(),
            "mqtt-client-id" => settings.mqtt_client_id.to_value(),
            "source-id" => settings.source_id.to_value(),
            "include-empty" => settings.include_empty.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for AnalyticsJson {}

impl ElementImpl for AnalyticsJson {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face analytics JSON writer",
                "Filter/Analyzer/Video",
                "Writes each frame's face ROI metas as one JSON line (gvametaconvert-like fields) \
                 to a file, stdout or an MQTT broker",
                "neural-media developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").any_features().build();
            [
                ("src", gst::PadDirection::Src),
                ("sink", gst::PadDirection::Sink),
            ]
            .into_iter()
            .map(|(name, direction)| {
                gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps)
                    .expect("valid pad template")
            })
            .collect()
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for AnalyticsJson {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let sink = self.open(&settings)?;
        *self.state.lock().unwrap() = Some(State {
            sink,
            resolution: None,
            records: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let Some(state) = self.state.lock().unwrap().take() else {
            return Ok(());
        };
        gst::debug!(CAT, imp = self, "{} records written", state.records);
        match state.sink {
            Sink::Mqtt { publisher, .. } => {
                let address = publisher.address().to_owned();
                publisher.disconnect().map_err(|e| {
                    gst::error_msg!(
                        gst::ResourceError::Close,
                        ("Could not disconnect from the MQTT broker at {}.", address),
                        ["{e}"]
                    )
                })
            }
            mut sink => Self::flush(&mut sink)
                .map_err(|message| gst::error_msg!(gst::ResourceError::Close, ("{message}"))),
        }
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        state.resolution = Some(Resolution {
            width: info.width(),
            height: info.height(),
        });
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            let flushed = match self.state.lock().unwrap().as_mut() {
                Some(state) => Self::flush(&mut state.sink),
                None => Ok(()),
            };
            if let Err(message) = flushed {
                gst::element_imp_error!(self, gst::ResourceError::Write, ("{message}"));
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buffer: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.record(buffer)
    }

    /// Only if an application turns passthrough off: the buffer is still left as it is.
    fn transform_ip(
        &self,
        buffer: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.record(buffer)
    }
}
