// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod imp;
mod narrator;

glib::wrapper! {
    pub struct ExpressionDescribe(ObjectSubclass<imp::ExpressionDescribe>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "expressiondescribe",
        gst::Rank::NONE,
        ExpressionDescribe::static_type(),
    )
}
