// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod canvas;
mod imp;

glib::wrapper! {
    pub struct ExpressionOverlay(ObjectSubclass<imp::ExpressionOverlay>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "expressionoverlay",
        gst::Rank::NONE,
        ExpressionOverlay::static_type(),
    )
}
