// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod canvas;
mod imp;
mod privacy;

glib::wrapper! {
    pub struct ExpressionOverlay(ObjectSubclass<imp::ExpressionOverlay>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// What `expressionoverlay` does to the pixels inside each face box.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmExpressionOverlayPrivacy")]
pub enum Privacy {
    #[default]
    #[enum_value(name = "None: the face stays visible", nick = "none")]
    None = 0,
    #[enum_value(name = "Blur: a strong blur over the face box", nick = "blur")]
    Blur = 1,
    #[enum_value(name = "Pixelate: the face box in coarse blocks", nick = "pixelate")]
    Pixelate = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Privacy::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "expressionoverlay",
        gst::Rank::NONE,
        ExpressionOverlay::static_type(),
    )
}
