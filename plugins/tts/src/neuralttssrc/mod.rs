// SPDX-License-Identifier: GPL-3.0-or-later
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NeuralTtsSrc(ObjectSubclass<imp::NeuralTtsSrc>) @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "neuralttssrc",
        gst::Rank::NONE,
        NeuralTtsSrc::static_type(),
    )
}
