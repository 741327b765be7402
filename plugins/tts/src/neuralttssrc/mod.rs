// SPDX-License-Identifier: GPL-3.0-or-later
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NeuralTtsSrc(ObjectSubclass<imp::NeuralTtsSrc>) @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

/// How `text`, `location` and `push-text` are read.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmNeuralTtsTextFormat")]
pub enum TextFormat {
    #[default]
    #[enum_value(name = "Plain: UTF-8 text", nick = "plain")]
    Plain = 0,
    #[enum_value(
        name = "SSML: each text, file and push-text is one SSML document",
        nick = "ssml"
    )]
    Ssml = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    TextFormat::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "neuralttssrc",
        gst::Rank::NONE,
        NeuralTtsSrc::static_type(),
    )
}
