// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]
//! Facial expression analytics elements on ONNX Runtime.

use gst::glib;

mod analyticsjson;
mod expressiondescribe;
mod expressionoverlay;
mod faceexpression;
mod formats;
mod meta;

neural_media_gst::define_execution_provider!("GstNmFaceExprExecutionProvider");

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    neural_media_gst::init_logging();
    faceexpression::register(plugin)?;
    expressionoverlay::register(plugin)?;
    expressiondescribe::register(plugin)?;
    analyticsjson::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    faceexpr,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
