// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue shared by the neural-media plugins.
//!
//! * [`init_logging`] routes the core library's `tracing` events into the `neuralmedia` debug
//!   category, so `GST_DEBUG=neuralmedia:6` shows them next to the elements' own logs.
//! * [`define_execution_provider!`] defines a plugin's `execution-provider` enum property type.

use std::fmt::Write as _;
use std::sync::LazyLock;

use gst::glib;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

#[doc(hidden)]
pub use gst;

/// Debug category that receives the core library's log events.
pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuralmedia",
        gst::DebugColorFlags::empty(),
        Some("neural-media core library (ONNX Runtime, models)"),
    )
});

/// Defines the `execution-provider` property type of a plugin.
///
/// Every plugin is its own shared library, with its own copy of this crate: a type defined here
/// would be registered twice when both plugins load into one process. So each plugin defines
/// its own GType, under its own name, with this macro.
#[macro_export]
macro_rules! define_execution_provider {
    ($type_name:literal) => {
        /// Where a model runs.
        #[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
        #[repr(u32)]
        #[enum_type(name = $type_name)]
        pub enum ExecutionProvider {
            #[default]
            #[enum_value(name = "Auto: CUDA when available, else CPU", nick = "auto")]
            Auto = 0,
            #[enum_value(name = "CPU", nick = "cpu")]
            Cpu = 1,
            #[enum_value(name = "CUDA (falls back to CPU with a warning)", nick = "cuda")]
            Cuda = 2,
            #[enum_value(name = "TensorRT, then CUDA, then CPU", nick = "tensorrt")]
            TensorRt = 3,
        }

        impl ExecutionProvider {
            /// The runtime properties every model-running element has: `execution-provider`,
            /// `active-execution-provider` (read-only), `threads` and `model-instance`. `runs` is the blurb's
            /// subject, e.g. "Where the voice runs".
            pub fn properties(runs: &str) -> Vec<glib::ParamSpec> {
                use $crate::gst::prelude::*;
                let blurb = format!("{runs}; falls back to CPU when the provider is unavailable");
                vec![
                    glib::ParamSpecEnum::builder_with_default("execution-provider", ExecutionProvider::default())
                        .nick("Execution provider")
                        .blurb(&blurb)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecString::builder("active-execution-provider")
                        .nick("Active execution provider")
                        .blurb("The execution provider actually in use once started (cpu, cuda, tensorrt)")
                        .read_only()
                        .build(),
                    glib::ParamSpecUInt::builder("threads")
                        .nick("Threads")
                        .blurb("ONNX Runtime intra-op threads: 0 shares the models with every element that loads them and runs them within the process's thread budget (one thread per core, or NEURAL_MEDIA_THREADS); N > 0 gives this element private sessions with N threads each")
                        .maximum(256)
                        .default_value(0)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecString::builder("model-instance")
                        .nick("Model instance")
                        .blurb("Elements that load the same model with the same instance name share it; empty (the default) shares by model and execution provider alone, a name keeps a separate instance (with threads=0)")
                        .mutable_ready()
                        .build(),
                ]
            }
        }

        impl From<ExecutionProvider> for neural_media::runtime::ExecutionProvider {
            fn from(p: ExecutionProvider) -> Self {
                match p {
                    ExecutionProvider::Auto => Self::Auto,
                    ExecutionProvider::Cpu => Self::Cpu,
                    ExecutionProvider::Cuda => Self::Cuda,
                    ExecutionProvider::TensorRt => Self::TensorRt,
                }
            }
        }
    };
}

/// Posts a `StreamError::Failed` error saying `what` on `element` and returns the flow error that
/// stops the stream: what a streaming thread does when the core fails on its data.
pub fn stream_failed(
    element: &impl gst::prelude::IsA<gst::Element>,
    what: impl std::fmt::Display,
) -> gst::FlowError {
    gst::element_error!(element, gst::StreamError::Failed, ("{what}"));
    gst::FlowError::Error
}

/// Maps a core error raised while starting an element (loading models) to an error message:
/// configuration and model problems are `OpenRead`/`Settings`, the rest `Failed`.
pub fn start_error(err: &neural_media::Error) -> gst::ErrorMessage {
    use neural_media::Error;
    match err {
        Error::Model { .. } | Error::Runtime { .. } => {
            gst::error_msg!(gst::ResourceError::OpenRead, ("{}", err))
        }
        Error::Config { .. } => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", err)),
        Error::InvalidInput(_) => gst::error_msg!(gst::LibraryError::Settings, ("{}", err)),
        Error::Inference(_) | Error::Phonemizer(_) | Error::Cancelled => {
            gst::error_msg!(gst::LibraryError::Init, ("{}", err))
        }
    }
}

/// Gives an element the default name of its factory (`faceexpression0`) instead of the one
/// GStreamer derives from the GType name (`nmfaceexpression0`, from `GstNmFaceExpression`: our
/// GTypes carry the `GstNm` prefix so that no other plugin can take their names). Call it from
/// `constructed()`; a name given by the application is left alone.
pub fn name_after_factory(element: &gst::Element) {
    use gst::prelude::*;
    let Some(factory) = element.factory() else {
        return;
    };
    let name = element.name();
    let Some(number) = name
        .strip_prefix("nm")
        .and_then(|rest| rest.strip_prefix(factory.name().as_str()))
    else {
        return;
    };
    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        element.set_property("name", format!("{}{number}", factory.name()));
    }
}

struct GstLayer;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for GstLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        CAT.threshold() >= level(metadata.level())
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        CAT.log(
            None::<&glib::Object>,
            level(meta.level()),
            glib::GString::from(meta.file().unwrap_or("?")).as_gstr(),
            meta.module_path().unwrap_or("?"),
            meta.line().unwrap_or(0),
            format_args!("{}{}", fields.message, fields.rest),
        );
    }
}

fn level(level: &tracing::Level) -> gst::DebugLevel {
    match *level {
        tracing::Level::ERROR => gst::DebugLevel::Error,
        tracing::Level::WARN => gst::DebugLevel::Warning,
        tracing::Level::INFO => gst::DebugLevel::Info,
        tracing::Level::DEBUG => gst::DebugLevel::Debug,
        tracing::Level::TRACE => gst::DebugLevel::Trace,
    }
}

/// Installs the tracing → GStreamer bridge as the global `tracing` subscriber, unless the host
/// application installed one of its own (then its subscriber keeps the events).
pub fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        LazyLock::force(&CAT);
        let subscriber = tracing_subscriber::registry().with(GstLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
