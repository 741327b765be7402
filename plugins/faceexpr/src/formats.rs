// SPDX-License-Identifier: MPL-2.0
//! Video formats and pad templates shared by the face elements, and the core's view of a mapped
//! video frame.

use gst_video::VideoFormat as F;
use gst_video::prelude::*;
use neural_media::face::{self, PixelFormat as P, YuvMatrix};

/// The packed RGB formats (what `expressionoverlay` draws on and `faceexpression` reads
/// directly): GStreamer's format and the core's, whose `PixelFormat::packed_layout` gives the
/// pixel size and the byte offsets of R, G and B.
pub const PACKED_RGB: [(F, P); 10] = [
    (F::Rgb, P::Rgb),
    (F::Bgr, P::Bgr),
    (F::Rgbx, P::Rgbx),
    (F::Bgrx, P::Bgrx),
    (F::Xrgb, P::Xrgb),
    (F::Xbgr, P::Xbgr),
    (F::Rgba, P::Rgba),
    (F::Bgra, P::Bgra),
    (F::Argb, P::Argb),
    (F::Abgr, P::Abgr),
];

/// The core's pixel format for a packed RGB `format`, if it is one.
pub fn packed_rgb(format: F) -> Option<P> {
    PACKED_RGB
        .into_iter()
        .find_map(|(video, pixel)| (video == format).then_some(pixel))
}

/// The packed RGB formats, in [`PACKED_RGB`] order.
pub fn packed_rgb_formats() -> impl Iterator<Item = F> {
    PACKED_RGB.into_iter().map(|(video, _)| video)
}

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

/// The core's view of a mapped frame (packed RGB, I420 or NV12), with its colorimetry.
pub fn core_frame<'a>(
    frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
) -> Result<face::Frame<'a>, String> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = |i: usize| {
        usize::try_from(frame.plane_stride()[i])
            .map_err(|_| format!("negative stride on plane {i}"))
    };
    let plane = |i: u32| frame.plane_data(i).map_err(|e| e.to_string());
    let result = match frame.format() {
        F::I420 => face::Frame::i420(
            w,
            h,
            plane(0)?,
            stride(0)?,
            plane(1)?,
            stride(1)?,
            plane(2)?,
            stride(2)?,
        ),
        F::Nv12 => face::Frame::nv12(w, h, plane(0)?, stride(0)?, plane(1)?, stride(1)?),
        other => match packed_rgb(other) {
            Some(pixel) => face::Frame::packed(pixel, w, h, plane(0)?, stride(0)?),
            None => return Err(format!("unsupported format {other:?}")),
        },
    }
    .map_err(|e| e.to_string())?;
    let colorimetry = frame.info().colorimetry();
    let matrix = match colorimetry.matrix() {
        gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    };
    let full_range = colorimetry.range() == gst_video::VideoColorRange::Range0_255;
    Ok(result.with_colorimetry(matrix, full_range))
}
