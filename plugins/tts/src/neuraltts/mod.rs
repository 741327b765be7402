// SPDX-License-Identifier: GPL-3.0-or-later
use gst::glib;
use gst::prelude::*;

mod imp;
mod state;
mod words;

glib::wrapper! {
    pub struct NeuralTts(ObjectSubclass<imp::NeuralTts>) @extends gst::Element, gst::Object;
}

/// What to do when a cue's speech is longer than the cue.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstNmNeuralTtsOverflow")]
pub enum Overflow {
    #[enum_value(name = "Clip: cut the speech at the end of the cue", nick = "clip")]
    Clip = 0,
    #[enum_value(
        name = "Shift: let the speech run on, delaying the cues that follow",
        nick = "shift"
    )]
    Shift = 1,
    #[enum_value(
        name = "Overlap: let the speech run on, mixed with the next cue at its own time",
        nick = "overlap"
    )]
    Overlap = 2,
    #[default]
    #[enum_value(
        name = "Fit: speak faster (up to max-speedup) to fit the cue, then shift",
        nick = "fit"
    )]
    Fit = 3,
}

impl From<Overflow> for neural_media::tts::schedule::Overflow {
    fn from(overflow: Overflow) -> Self {
        match overflow {
            Overflow::Clip => Self::Clip,
            Overflow::Shift => Self::Shift,
            Overflow::Overlap => Self::Overlap,
            Overflow::Fit => Self::Fit,
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Overflow::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "neuraltts",
        gst::Rank::NONE,
        NeuralTts::static_type(),
    )
}
