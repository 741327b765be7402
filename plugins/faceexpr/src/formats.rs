// SPDX-License-Identifier: MPL-2.0
//! Video formats and pad templates shared by the face elements.

use gst_video::VideoFormat as F;

/// Packed 8-bit RGB layouts: what `expressionoverlay` draws on and `faceexpression` reads directly.
pub const PACKED_RGB: [F; 10] = [
    F::Rgb,
    F::Bgr,
    F::Rgbx,
    F::Bgrx,
    F::Xrgb,
    F::Xbgr,
    F::Rgba,
    F::Bgra,
    F::Argb,
    F::Abgr,
];

/// Always-present `src` and `sink` pads with the same raw video caps, for an in-place filter.
pub fn filter_pad_templates(formats: impl IntoIterator<Item = F>) -> Vec<gst::PadTemplate> {
    let caps = gst_video::VideoCapsBuilder::new()
        .format_list(formats)
        .build();
    ["src", "sink"]
        .into_iter()
        .zip([gst::PadDirection::Src, gst::PadDirection::Sink])
        .map(|(name, direction)| {
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps)
                .expect("valid pad template")
        })
        .collect()
}
