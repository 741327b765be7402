// SPDX-License-Identifier: GPL-3.0-or-later
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]
//! Neural text-to-speech elements: Piper VITS voices on ONNX Runtime, phonemized by espeak-ng.
//!
//! This plugin links libespeak-ng and is therefore GPL-3.0-or-later.

use gst::glib;

mod marks;
mod neuraltts;
mod neuralttssrc;
mod output;
mod phonemizer;
mod settings;
mod ssml;

neural_media_gst::define_execution_provider!("GstNmNeuralTtsExecutionProvider");

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    neural_media_gst::init_logging();
    #[cfg(feature = "doc")]
    settings::mark_as_plugin_api();
    neuralttssrc::register(plugin)?;
    neuraltts::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    neuraltts,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "GPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
