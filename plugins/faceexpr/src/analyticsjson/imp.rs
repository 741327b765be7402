// SPDX-License-Identifier: MPL-2.0
//! `analyticsjson` writes the face metas that `faceexpression` attaches as JSON Lines: one JSON
//! object per frame, with field names close to DL Streamer's `gvametaconvert` (`timestamp`,
//! `resolution`, `objects[].detection.bounding_box` normalised to 0..1, `x`/`y`/`w`/`h` in pixels)
//! plus each face's `expression`, `landmarks` and `frames`. It is a passthrough filter: buffers
//! and metas go downstream untouched.
//!
//! Properties: `output` (`file`, `stdout` or `mqtt`), `location` (the file; `-` = stdout),
//! `source-id` (copied into every record as `source`), `include-empty` (also write frames without
//! faces), `stats` (read-only counts); for MQTT `mqtt-address` (`host:port`), `mqtt-topic`,
//! `mqtt-client-id`, `mqtt-username`, `mqtt-password`, `mqtt-tls`, `mqtt-ca-file`,
//! `mqtt-cert-file`, `mqtt-key-file`, `max-queued` and `drain-timeout`.
//!
//! With `output=mqtt` each record is one QoS 1 message, published off the streaming thread
//! (`mqtt.rs`): the record joins a queue of at most `max-queued` unacknowledged records and the
//! buffer goes on at once; a worker thread connects (TLS, credentials, a persistent session under
//! a stable client id), reconnects and sends every unacknowledged record again, so delivery is
//! at-least-once (deduplicate by `source` and `timestamp`). A full queue drops the newest records,
//! with a warning when dropping starts and one with the count when it ends. Lost connections are
//! bus warnings; flushes and stop never wait on the broker; EOS waits up to `drain-timeout` for
//! the queue to empty, then warns with the count not sent. A file is flushed on EOS. For a file
//! *and* MQTT, chain two elements (`analyticsjson location=a.jsonl ! analyticsjson output=mqtt`).
//!
//! ```sh
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! \
//!     faceexpression ! analyticsjson location=faces.jsonl ! fakesink
//! ```
//! (`pipelines/analytics-record.sh` does the same while recording the video.)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::Output;
use super::json::{
    BoundingBox, Detection, Expression, FaceObject, FrameRecord, Probabilities, Resolution,
};
use super::mqtt::{self, Publisher, Report};
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
const DEFAULT_MQTT_TLS: bool = false;
/// About 5.5 minutes of records at 30 frames/s (a record is ~0.2-2 KB).
const DEFAULT_MAX_QUEUED: u32 = 10_000;
const MAX_MAX_QUEUED: u32 = 1_000_000;
const DEFAULT_DRAIN_TIMEOUT_MS: u32 = 5_000;
const MAX_DRAIN_TIMEOUT_MS: u32 = 3_600_000;

/// No `Debug`: it holds the MQTT password.
#[derive(Clone)]
struct Settings {
    output: Output,
    location: Option<String>,
    mqtt_address: String,
    mqtt_topic: String,
    mqtt_client_id: Option<String>,
    mqtt_username: Option<String>,
    mqtt_password: Option<String>,
    mqtt_tls: bool,
    mqtt_ca_file: Option<String>,
    mqtt_cert_file: Option<String>,
    mqtt_key_file: Option<String>,
    max_queued: u32,
    drain_timeout_ms: u32,
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
            mqtt_username: None,
            mqtt_password: None,
            mqtt_tls: DEFAULT_MQTT_TLS,
            mqtt_ca_file: None,
            mqtt_cert_file: None,
            mqtt_key_file: None,
            max_queued: DEFAULT_MAX_QUEUED,
            drain_timeout_ms: DEFAULT_DRAIN_TIMEOUT_MS,
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
        /// Shared with EOS, which drains it without holding the state lock.
        publisher: Arc<Publisher>,
        address: String,
        max_queued: u32,
        /// The records being dropped since the queue filled up, if it is full.
        dropping: Option<DropRun>,
    },
}

/// Consecutive records dropped because the MQTT queue was full.
struct DropRun {
    count: u64,
    first: Option<gst::ClockTime>,
    last: Option<gst::ClockTime>,
}

struct State {
    sink: Sink,
    resolution: Option<Resolution>,
    /// Written (file, stdout) or queued (MQTT).
    records: u64,
    /// Dropped because the MQTT queue was full.
    dropped: u64,
}

/// A warning decided under the state lock and posted after it is released (a synchronous bus
/// handler may read `stats`).
type Warning = String;

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
                let client_id = settings
                    .mqtt_client_id
                    .clone()
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| self.default_client_id());
                let path =
                    |p: &Option<String>| p.as_deref().filter(|p| !p.is_empty()).map(PathBuf::from);
                let ca_file = path(&settings.mqtt_ca_file);
                let tls = (settings.mqtt_tls || ca_file.is_some()).then(|| mqtt::TlsFiles {
                    ca_file,
                    cert_file: path(&settings.mqtt_cert_file),
                    key_file: path(&settings.mqtt_key_file),
                });
                if tls.is_none()
                    && (path(&settings.mqtt_cert_file).is_some()
                        || path(&settings.mqtt_key_file).is_some())
                {
                    return Err(gst::error_msg!(
                        gst::LibraryError::Settings,
                        ("mqtt-cert-file and mqtt-key-file need TLS: set mqtt-tls=true or mqtt-ca-file")
                    ));
                }
                let config = mqtt::Config {
                    address: settings.mqtt_address.clone(),
                    client_id: client_id.clone(),
                    topic: settings.mqtt_topic.clone(),
                    tls,
                    username: settings.mqtt_username.clone().filter(|u| !u.is_empty()),
                    password: settings.mqtt_password.clone(),
                    max_queued: settings.max_queued as usize,
                };
                let element = self.obj().downgrade();
                let address = settings.mqtt_address.clone();
                let publisher = Publisher::start(&config, move |report| {
                    if let Some(element) = element.upgrade() {
                        element.imp().report(&address, report);
                    }
                })
                .map_err(|e| {
                    gst::error_msg!(
                        gst::LibraryError::Settings,
                        (
                            "Cannot publish to the MQTT broker at {}: {e}",
                            settings.mqtt_address
                        )
                    )
                })?;
                gst::info!(
                    CAT,
                    imp = self,
                    "publishing to MQTT broker at {} as {client_id}, topic {}, TLS {}",
                    settings.mqtt_address,
                    settings.mqtt_topic,
                    config.tls.is_some()
                );
                Ok(Sink::Mqtt {
                    publisher: Arc::new(publisher),
                    address: settings.mqtt_address.clone(),
                    max_queued: settings.max_queued,
                    dropping: None,
                })
            }
        }
    }

    /// `gst-analyticsjson-<host name>-<element name>`: the same on every run of the pipeline,
    /// so that the broker finds the session again.
    fn default_client_id(&self) -> String {
        format!(
            "gst-analyticsjson-{}-{}",
            glib::host_name(),
            self.obj().name()
        )
    }

    /// Turns a connection event of the MQTT worker into a bus message.
    fn report(&self, address: &str, report: Report) {
        match report {
            Report::Connected {
                after_failure,
                session_present,
                resent,
            } => {
                let text = format!(
                    "Connected to the MQTT broker at {address} (session {}); {resent} \
                     unacknowledged records sent again",
                    if session_present { "resumed" } else { "new" }
                );
                gst::info!(CAT, imp = self, "{text}");
                if after_failure {
                    gst::element_imp_info!(self, gst::ResourceError::Write, ("{text}"));
                }
            }
            Report::ConnectionFailed {
                error,
                was_connected,
                unacknowledged,
            } => {
                let what = if was_connected {
                    "Lost the connection to"
                } else {
                    "Could not connect to"
                };
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ("{what} the MQTT broker at {address}: {error}. {unacknowledged} records \
                         wait for it (up to max-queued); retrying")
                );
            }
        }
    }

    /// The warning that ends a run of dropped records.
    fn dropped_warning(run: &DropRun, max_queued: u32, address: &str) -> Warning {
        let stamp = |t: Option<gst::ClockTime>| t.map_or("none".to_owned(), |t| t.to_string());
        format!(
            "Dropped {} records (timestamps {} to {}): the MQTT queue was full (max-queued={} \
             records not yet acknowledged by the broker at {})",
            run.count,
            stamp(run.first),
            stamp(run.last),
            max_queued,
            address
        )
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let (records, dropped, mqtt) =
            state
                .as_ref()
                .map_or((0, 0, mqtt::Stats::default()), |state| {
                    let mqtt = match &state.sink {
                        Sink::Mqtt { publisher, .. } => publisher.stats(),
                        _ => mqtt::Stats::default(),
                    };
                    (state.records, state.dropped, mqtt)
                });
        gst::Structure::builder("application/x-analyticsjson-stats")
            .field("records", records)
            .field("dropped", dropped)
            .field("unacknowledged", mqtt.unacknowledged)
            .field("acknowledged", mqtt.acknowledged)
            .build()
    }

    fn post_warnings(&self, warnings: Vec<Warning>) {
        for warning in warnings {
            gst::element_imp_warning!(self, gst::ResourceError::Write, ("{warning}"));
        }
    }

    /// Writes the record of one buffer.
    fn record(&self, buffer: &gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (source, include_empty) = {
            let settings = self.settings.lock().unwrap();
            (settings.source_id.clone(), settings.include_empty)
        };
        let mut state_guard = self.state.lock().unwrap();
        let Some(state) = state_guard.as_mut() else {
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
            neural_media_gst::stream_failed(&*self.obj(), format_args!("JSON encoding failed: {e}"))
        })?;
        let mut warnings = Vec::new();
        if let Sink::Mqtt {
            publisher,
            address,
            max_queued,
            dropping,
        } = &mut state.sink
        {
            if publisher.offer(json) {
                state.records += 1;
                if let Some(run) = dropping.take() {
                    warnings.push(Self::dropped_warning(&run, *max_queued, address));
                }
            } else {
                state.dropped += 1;
                let run = dropping.get_or_insert_with(|| {
                    warnings.push(format!(
                        "The MQTT queue is full: {max_queued} records wait for the broker at \
                         {address} to acknowledge them; newer records are dropped until it does \
                         (max-queued)"
                    ));
                    DropRun {
                        count: 0,
                        first: buffer.pts(),
                        last: None,
                    }
                });
                run.count += 1;
                run.last = buffer.pts();
            }
        } else {
            self.write(&mut state.sink, &json)?;
            state.records += 1;
        }
        gst::trace!(
            CAT,
            imp = self,
            "record {} with {} faces",
            state.records,
            record.objects.len()
        );
        drop(state_guard);
        self.post_warnings(warnings);
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
            // Queued by `record()`, never written here.
            Sink::Mqtt { .. } => Ok(()),
        };
        result.map_err(|message| {
            gst::element_imp_error!(self, gst::ResourceError::Write, ("{message}"));
            gst::FlowError::Error
        })
    }

    /// On EOS: flushes a file; for MQTT, waits up to `drain-timeout` for the broker to
    /// acknowledge every queued record (without the state lock), then warns with what is left.
    fn drain(&self) {
        let timeout =
            Duration::from_millis(u64::from(self.settings.lock().unwrap().drain_timeout_ms));
        let mut warnings = Vec::new();
        let publisher = {
            let mut state = self.state.lock().unwrap();
            match state.as_mut().map(|state| &mut state.sink) {
                Some(Sink::Mqtt {
                    publisher,
                    address,
                    max_queued,
                    dropping,
                }) => {
                    if let Some(run) = dropping.take() {
                        warnings.push(Self::dropped_warning(&run, *max_queued, address));
                    }
                    Some((publisher.clone(), address.clone()))
                }
                Some(sink) => {
                    if let Err(message) = Self::flush(sink) {
                        gst::element_imp_error!(self, gst::ResourceError::Write, ("{message}"));
                    }
                    None
                }
                None => None,
            }
        };
        if let Some((publisher, address)) = publisher {
            let unsent = publisher.drain(timeout);
            if unsent > 0 {
                warnings.push(format!(
                    "{unsent} records were not acknowledged by the MQTT broker at {address} \
                     within drain-timeout={} ms; they are lost unless it acknowledges them before \
                     the element stops",
                    timeout.as_millis()
                ));
            } else {
                gst::debug!(CAT, imp = self, "every record acknowledged by {address}");
            }
        }
        self.post_warnings(warnings);
    }

    /// Wakes (or skips) an EOS drain while flushing or stopping; records stay queued.
    fn set_flushing(&self, flushing: bool) {
        if let Some(State {
            sink: Sink::Mqtt { publisher, .. },
            ..
        }) = self.state.lock().unwrap().as_ref()
        {
            publisher.set_flushing(flushing);
        }
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
                    .blurb("MQTT broker as host:port ([v6]:port), with output=mqtt")
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
                        "MQTT client identifier, the key of the broker's persistent session: \
                         keep it stable across runs and unique per publisher \
                         (default: gst-analyticsjson-<host name>-<element name>)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-username")
                    .nick("MQTT username")
                    .blurb("Username for the MQTT broker (none when unset)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-password")
                    .nick("MQTT password")
                    .blurb("Password for the MQTT broker, with mqtt-username (write-only)")
                    .write_only()
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("mqtt-tls")
                    .nick("MQTT over TLS")
                    .blurb(
                        "Connect to the MQTT broker with TLS, verified with mqtt-ca-file or, \
                         without it, the system's root certificates (implied by mqtt-ca-file)",
                    )
                    .default_value(DEFAULT_MQTT_TLS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-ca-file")
                    .nick("MQTT CA file")
                    .blurb("PEM file of the CA certificates that verify the MQTT broker (turns TLS on)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-cert-file")
                    .nick("MQTT client certificate file")
                    .blurb("PEM file of the client certificate (chain) shown to the MQTT broker, with mqtt-key-file")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mqtt-key-file")
                    .nick("MQTT client key file")
                    .blurb("PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-queued")
                    .nick("Max queued records")
                    .blurb(
                        "With output=mqtt: records not yet acknowledged by the broker (waiting \
                         or in flight) at most; beyond it the newest are dropped, with a warning",
                    )
                    .minimum(1)
                    .maximum(MAX_MAX_QUEUED)
                    .default_value(DEFAULT_MAX_QUEUED)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("drain-timeout")
                    .nick("Drain timeout")
                    .blurb(
                        "With output=mqtt: how long EOS waits for the broker to acknowledge the \
                         queued records, in milliseconds (0 = not at all); then a warning \
                         counts those not sent",
                    )
                    .maximum(MAX_DRAIN_TIMEOUT_MS)
                    .default_value(DEFAULT_DRAIN_TIMEOUT_MS)
                    .mutable_playing()
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
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Counts since start: records (written, or queued for MQTT), dropped \
                         (MQTT queue full), unacknowledged and acknowledged (by the MQTT broker)",
                    )
                    .read_only()
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
            "mqtt-username" => settings.mqtt_username = value.get().expect("type checked upstream"),
            "mqtt-password" => settings.mqtt_password = value.get().expect("type checked upstream"),
            "mqtt-tls" => settings.mqtt_tls = value.get().expect("type checked upstream"),
            "mqtt-ca-file" => settings.mqtt_ca_file = value.get().expect("type checked upstream"),
            "mqtt-cert-file" => {
                settings.mqtt_cert_file = value.get().expect("type checked upstream")
            }
            "mqtt-key-file" => settings.mqtt_key_file = value.get().expect("type checked upstream"),
            "max-queued" => settings.max_queued = value.get().expect("type checked upstream"),
            "drain-timeout" => {
                settings.drain_timeout_ms = value.get().expect("type checked upstream")
            }
            "source-id" => settings.source_id = value.get().expect("type checked upstream"),
            "include-empty" => settings.include_empty = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "stats" {
            return self.stats().to_value();
        }
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "output" => settings.output.to_value(),
            "location" => settings.location.to_value(),
            "mqtt-address" => settings.mqtt_address.to_value(),
            "mqtt-topic" => settings.mqtt_topic.to_value(),
            "mqtt-client-id" => settings.mqtt_client_id.to_value(),
            "mqtt-username" => settings.mqtt_username.to_value(),
            "mqtt-tls" => settings.mqtt_tls.to_value(),
            "mqtt-ca-file" => settings.mqtt_ca_file.to_value(),
            "mqtt-cert-file" => settings.mqtt_cert_file.to_value(),
            "mqtt-key-file" => settings.mqtt_key_file.to_value(),
            "max-queued" => settings.max_queued.to_value(),
            "drain-timeout" => settings.drain_timeout_ms.to_value(),
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

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            // Wake an EOS that waits for the broker before the pads deactivate.
            self.set_flushing(true);
        }
        self.parent_change_state(transition)
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
            dropped: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let Some(state) = self.state.lock().unwrap().take() else {
            return Ok(());
        };
        gst::debug!(
            CAT,
            imp = self,
            "{} records written or queued, {} dropped",
            state.records,
            state.dropped
        );
        match state.sink {
            Sink::Mqtt {
                publisher,
                address,
                max_queued,
                dropping,
            } => {
                let mut warnings: Vec<Warning> = dropping
                    .map(|run| Self::dropped_warning(&run, max_queued, &address))
                    .into_iter()
                    .collect();
                let given_up = publisher.stop();
                if given_up > 0 {
                    warnings.push(format!(
                        "{given_up} records are lost: the element stopped before the MQTT broker \
                         at {address} acknowledged them"
                    ));
                }
                self.post_warnings(warnings);
                Ok(())
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
        match event.view() {
            gst::EventView::Eos(_) => self.drain(),
            gst::EventView::FlushStart(_) => self.set_flushing(true),
            gst::EventView::FlushStop(_) => self.set_flushing(false),
            _ => {}
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
