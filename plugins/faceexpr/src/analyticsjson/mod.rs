// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod imp;
mod json;
mod mqtt;

/// Where the JSON lines go.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmAnalyticsJsonOutput")]
pub enum Output {
    #[default]
    #[enum_value(
        name = "File: one JSON object per line to 'location' ('-' = stdout)",
        nick = "file"
    )]
    File = 0,
    #[enum_value(name = "Stdout: one JSON object per line", nick = "stdout")]
    Stdout = 1,
    #[enum_value(
        name = "MQTT: one QoS 1 message per frame to 'mqtt-topic' at 'mqtt-address'",
        nick = "mqtt"
    )]
    Mqtt = 2,
}

glib::wrapper! {
    pub struct AnalyticsJson(ObjectSubclass<imp::AnalyticsJson>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Output::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "analyticsjson",
        gst::Rank::NONE,
        AnalyticsJson::static_type(),
    )
}
