// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod imp;
mod messages;
mod settings;
mod worker;

/// Temporal smoothing of each face's expression.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmFaceExpressionSmoothing")]
pub enum Smoothing {
    #[enum_value(
        name = "None: the classifier's probabilities of the frame",
        nick = "none"
    )]
    None = 0,
    #[enum_value(
        name = "EMA: exponential moving average (weight of the past = stickiness)",
        nick = "ema"
    )]
    Ema = 1,
    #[default]
    #[enum_value(
        name = "HMM: forward filter, P(same expression next frame) = stickiness",
        nick = "hmm"
    )]
    Hmm = 2,
}

/// Which bus messages to post.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmFaceExpressionPostMessages")]
pub enum PostMessages {
    #[enum_value(name = "None", nick = "none")]
    None = 0,
    #[default]
    #[enum_value(
        name = "Changes: expression-changed when a face's label changes",
        nick = "changes"
    )]
    Changes = 1,
    #[enum_value(
        name = "Every frame: faceexpression per frame, plus the changes",
        nick = "every-frame"
    )]
    EveryFrame = 2,
}

/// Where the face boxes come from.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmFaceExpressionDetectionSource")]
pub enum DetectionSource {
    #[default]
    #[enum_value(name = "Model: our face detector", nick = "model")]
    Model = 0,
    #[enum_value(
        name = "Upstream: the face ROI metas already on the buffer (e.g. facedetect's)",
        nick = "upstream"
    )]
    Upstream = 1,
}

/// Where the detector looks on the frames it runs on.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmFaceExpressionDetectionMode")]
pub enum DetectionMode {
    #[enum_value(name = "Full: the whole frame, at detection-size", nick = "full")]
    Full = 0,
    #[default]
    #[enum_value(
        name = "ROI: a crop around each tracked face, the whole frame every full-scan-interval frames and when a crop loses its face",
        nick = "roi"
    )]
    Roi = 1,
}

glib::wrapper! {
    pub struct FaceExpression(ObjectSubclass<imp::FaceExpression>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    {
        Smoothing::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
        PostMessages::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
        DetectionSource::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
        DetectionMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
    gst::Element::register(
        Some(plugin),
        "faceexpression",
        gst::Rank::NONE,
        FaceExpression::static_type(),
    )
}
