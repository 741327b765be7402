// SPDX-License-Identifier: MPL-2.0
//! Video formats and pad templates shared by the face elements, and the core's view of a mapped
//! video frame.

use gst_video::VideoFormat as F;
use gst_video::prelude::*;
use neural_media::face::{self, PixelFormat as P, YuvMatrix};

/// One packed 8-bit RGB layout: GStreamer's format, the core's, and the pixel size in bytes with
/// the byte offsets of R, G and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRgb {
    pub video: F,
    pub pixel: P,
    pub bytes_per_pixel: usize,
    pub rgb: [usize; 3],
}

const fn packed(video: F, pixel: P, bytes_per_pixel: usize, rgb: [usize; 3]) -> PackedRgb {
    PackedRgb {
        video,
        pixel,
        bytes_per_pixel,
        rgb,
    }
}

/// The packed RGB formats: what `expressionoverlay` draws on and `faceexpression` reads directly.
pub const PACKED_RGB: [PackedRgb; 10] = [
    packed(F::Rgb, P::Rgb, 3, [0, 1, 2]),
    packed(F::Bgr, P::Bgr, 3, [2, 1, 0]),
    packed(F::Rgbx, P::Rgbx, 4, [0, 1, 2]),
    packed(F::Bgrx, P::Bgrx, 4, [2, 1, 0]),
    packed(F::Xrgb, P::Xrgb, 4, [1, 2, 3]),
    packed(F::Xbgr, P::Xbgr, 4, [3, 2, 1]),
    packed(F::Rgba, P::Rgba, 4, [0, 1, 2]),
    packed(F::Bgra, P::Bgra, 4, [2, 1, 0]),
    packed(F::Argb, P::Argb, 4, [1, 2, 3]),
    packed(F::Abgr, P::Abgr, 4, [3, 2, 1]),
];

/// The packed RGB layout of `format`, if it is one.
pub fn packed_rgb(format: F) -> Option<PackedRgb> {
    PACKED_RGB.into_iter().find(|p| p.video == format)
}

/// The packed RGB formats, in [`PACKED_RGB`] order.
pub fn packed_rgb_formats() -> impl Iterator<Item = F> {
    PACKED_RGB.into_iter().map(|p| p.video)
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
            Some(p) => face::Frame::packed(p.pixel, w, h, plane(0)?, stride(0)?),
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
