// SPDX-License-Identifier: MPL-2.0
//! A borrowed view of one video frame, and the one resampling pass that turns a region of it into
//! a model's input tensor.
//!
//! Here: the frame view ([`Frame`], [`PixelFormat`]) and the checks of its planes. The rest, one
//! concern per file: `colour` (the YUV → RGB and luma arithmetic, [`YuvMatrix`]), `tensor` (what a
//! model input looks like: [`Region`], [`Channels`], [`TensorLayout`], [`TensorSpec`]) and
//! `resample` ([`Frame::write_tensor`]: the taps, the line cache and the plane-by-plane pass).
//!
//! # Resampling
//!
//! [`Frame::write_tensor`] reads an integer [`Region`] of the frame (which may extend past the
//! frame: pixels outside it read as 0 in every channel, i.e. black) and resizes it to the tensor
//! size with **bilinear interpolation on half-pixel centres**, independently per axis. For a region
//! of `S` pixels starting at `origin` resized to `D` samples, output sample `d` reads
//!
//! ```text
//! src = clamp((d + 0.5) * S / D - 0.5, 0, S - 1)        (computed in f64)
//! i0  = floor(src),  i1 = min(i0 + 1, S - 1),  t = src - i0
//! value = (1 - t) * pixel(origin + i0) + t * pixel(origin + i1)
//! ```
//!
//! and the 2-D value is `(1 - ty) * row(i0) + ty * row(i1)`, each row blended along x first. The
//! tensor value is then `value * scale + offset`. Clamping to the region's edge (not to the frame's)
//! means a region resampled on its own, as `scripts/face_reference.py` does, gives the same result.
//!
//! # Colour
//!
//! * Packed RGB formats give R, G, B directly; **gray** is `0.299 R + 0.587 G + 0.114 B` per source
//!   pixel (before interpolation).
//! * I420 / NV12 give gray from the **Y plane** alone (no colour conversion; limited-range Y is
//!   expanded to 0–255 as `(Y - 16) * 255 / 219`, clamped) and RGB through the frame's
//!   [`YuvMatrix`] (BT.601 by default). Chroma is read at `(x / 2, y / 2)` (nearest, no chroma
//!   interpolation).
//!
//! No full-frame conversion ever happens: only the source rows the taps use are read, each once,
//! and of each only the columns the taps use (converted as they are read). A colour tensor of a
//! region inside the frame (a detector's input) takes a plane-by-plane path: for packed formats
//! with the same arithmetic and the same result to the bit; for I420 / NV12 it resamples Y', Cb
//! and Cr and converts each output sample, which differs from converting each source pixel first
//! only by rounding and where a source pixel's RGB would be clamped.

mod colour;
mod resample;
mod tensor;

pub use colour::YuvMatrix;
pub use tensor::{Channels, Region, TensorLayout, TensorSpec};

use crate::error::{Error, Result};

/// Layout of the pixels of a [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Packed 24-bit R, G, B.
    Rgb,
    /// Packed 24-bit B, G, R.
    Bgr,
    /// Packed 32-bit R, G, B, unused.
    Rgbx,
    /// Packed 32-bit B, G, R, unused.
    Bgrx,
    /// Packed 32-bit unused, R, G, B.
    Xrgb,
    /// Packed 32-bit unused, B, G, R.
    Xbgr,
    /// Packed 32-bit R, G, B, alpha (alpha ignored).
    Rgba,
    /// Packed 32-bit B, G, R, alpha (alpha ignored).
    Bgra,
    /// Packed 32-bit alpha, R, G, B (alpha ignored).
    Argb,
    /// Packed 32-bit alpha, B, G, R (alpha ignored).
    Abgr,
    /// Planar 4:2:0: Y, then U and V at half resolution.
    I420,
    /// Semi-planar 4:2:0: Y, then interleaved U, V at half resolution.
    Nv12,
}

impl PixelFormat {
    /// For packed formats: bytes per pixel and the byte offsets of R, G and B (the one table of
    /// packed RGB layouts; the plugins map GStreamer's formats onto these).
    pub fn packed_layout(self) -> Option<(usize, [usize; 3])> {
        Some(match self {
            PixelFormat::Rgb => (3, [0, 1, 2]),
            PixelFormat::Bgr => (3, [2, 1, 0]),
            PixelFormat::Rgbx | PixelFormat::Rgba => (4, [0, 1, 2]),
            PixelFormat::Bgrx | PixelFormat::Bgra => (4, [2, 1, 0]),
            PixelFormat::Xrgb | PixelFormat::Argb => (4, [1, 2, 3]),
            PixelFormat::Xbgr | PixelFormat::Abgr => (4, [3, 2, 1]),
            PixelFormat::I420 | PixelFormat::Nv12 => return None,
        })
    }

    /// True for I420 and NV12.
    pub fn is_yuv(self) -> bool {
        self.packed_layout().is_none()
    }
}

/// A borrowed, validated view of one frame. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: [&'a [u8]; 3],
    strides: [usize; 3],
    matrix: YuvMatrix,
    full_range: bool,
}

fn check_plane(
    name: &str,
    data: &[u8],
    stride: usize,
    row_bytes: usize,
    rows: usize,
) -> Result<()> {
    if stride < row_bytes {
        return Err(Error::InvalidInput(format!(
            "{name} plane stride {stride} is smaller than a row ({row_bytes} bytes)"
        )));
    }
    let needed = stride
        .checked_mul(rows.saturating_sub(1))
        .and_then(|n| n.checked_add(row_bytes))
        .ok_or_else(|| Error::InvalidInput(format!("{name} plane size overflows")))?;
    if data.len() < needed {
        return Err(Error::InvalidInput(format!(
            "{name} plane has {} bytes, {needed} needed",
            data.len()
        )));
    }
    Ok(())
}

fn check_size(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidInput(format!(
            "empty frame ({width}x{height})"
        )));
    }
    Ok(())
}

impl<'a> Frame<'a> {
    /// A frame of checked planes, with the default colorimetry.
    fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: [&'a [u8]; 3],
        strides: [usize; 3],
    ) -> Frame<'a> {
        Frame {
            format,
            width,
            height,
            planes,
            strides,
            matrix: YuvMatrix::default(),
            full_range: false,
        }
    }

    /// A packed RGB-family frame (`stride` in bytes between rows).
    pub fn packed(
        format: PixelFormat,
        width: usize,
        height: usize,
        data: &'a [u8],
        stride: usize,
    ) -> Result<Frame<'a>> {
        check_size(width, height)?;
        let Some((bpp, _)) = format.packed_layout() else {
            return Err(Error::InvalidInput(format!(
                "{format:?} is not a packed format"
            )));
        };
        let row = width
            .checked_mul(bpp)
            .ok_or_else(|| Error::InvalidInput("frame width overflows".into()))?;
        check_plane("packed", data, stride, row, height)?;
        Ok(Frame::new(
            format,
            width,
            height,
            [data, &[], &[]],
            [stride, 0, 0],
        ))
    }

    /// A planar I420 frame. Chroma planes are `ceil(width / 2) × ceil(height / 2)`.
    #[allow(clippy::too_many_arguments)]
    pub fn i420(
        width: usize,
        height: usize,
        y: &'a [u8],
        y_stride: usize,
        u: &'a [u8],
        u_stride: usize,
        v: &'a [u8],
        v_stride: usize,
    ) -> Result<Frame<'a>> {
        let chroma_row = width.div_ceil(2);
        Frame::yuv420(
            PixelFormat::I420,
            (width, height),
            [y, u, v],
            [y_stride, u_stride, v_stride],
            &[("U", chroma_row), ("V", chroma_row)],
        )
    }

    /// A semi-planar NV12 frame. The UV plane is `ceil(height / 2)` rows of `ceil(width / 2)` pairs.
    pub fn nv12(
        width: usize,
        height: usize,
        y: &'a [u8],
        y_stride: usize,
        uv: &'a [u8],
        uv_stride: usize,
    ) -> Result<Frame<'a>> {
        Frame::yuv420(
            PixelFormat::Nv12,
            (width, height),
            [y, uv, &[]],
            [y_stride, uv_stride, 0],
            &[("UV", width.div_ceil(2) * 2)],
        )
    }

    /// A 4:2:0 frame: a full-size Y plane, then the `chroma` planes (name, bytes of a row), each
    /// `ceil(height / 2)` rows.
    fn yuv420(
        format: PixelFormat,
        (width, height): (usize, usize),
        planes: [&'a [u8]; 3],
        strides: [usize; 3],
        chroma: &[(&str, usize)],
    ) -> Result<Frame<'a>> {
        check_size(width, height)?;
        check_plane("Y", planes[0], strides[0], width, height)?;
        for (i, &(name, row)) in chroma.iter().enumerate() {
            check_plane(name, planes[i + 1], strides[i + 1], row, height.div_ceil(2))?;
        }
        Ok(Frame::new(format, width, height, planes, strides))
    }

    /// Sets the colorimetry of a YUV frame (ignored for RGB): matrix and whether Y/UV use the full
    /// 0–255 range (default: BT.601, limited range 16–235/240).
    pub fn with_colorimetry(mut self, matrix: YuvMatrix, full_range: bool) -> Frame<'a> {
        self.matrix = matrix;
        self.full_range = full_range;
        self
    }

    /// Pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_buffers_and_strides() {
        let data = [0u8; 11];
        assert!(Frame::packed(PixelFormat::Rgb, 2, 2, &data, 6).is_err());
        assert!(Frame::packed(PixelFormat::Rgb, 2, 2, &data, 5).is_err());
        assert!(Frame::packed(PixelFormat::Rgb, 2, 2, &data[..9], 6).is_err());
        assert!(Frame::packed(PixelFormat::Rgb, 0, 2, &data, 6).is_err());
        assert!(Frame::packed(PixelFormat::I420, 2, 2, &data, 6).is_err());
        // A short last row is fine: the stride padding after it may be absent.
        let data = [0u8; 10];
        assert!(Frame::packed(PixelFormat::Rgb, 1, 2, &data, 7).is_ok());
        let y = [0u8; 9];
        assert!(Frame::i420(3, 3, &y, 3, &[0; 4], 2, &[0; 3], 2).is_err());
        assert!(Frame::i420(3, 3, &y, 3, &[0; 4], 2, &[0; 4], 2).is_ok());
        assert!(Frame::nv12(3, 3, &y, 3, &[0; 7], 4).is_err());
        assert!(Frame::nv12(3, 3, &y, 3, &[0; 8], 4).is_ok());
    }

    #[test]
    fn identity_resample_reads_every_format_alike() {
        // 2x2 image: red, green / blue, white; with one byte of row padding.
        let px = [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
        let expect: Vec<f32> = (0..3)
            .flat_map(|c| px.iter().map(move |p| f32::from(p[c])))
            .collect();
        for format in [
            PixelFormat::Rgb,
            PixelFormat::Bgr,
            PixelFormat::Rgbx,
            PixelFormat::Bgrx,
            PixelFormat::Xrgb,
            PixelFormat::Xbgr,
            PixelFormat::Rgba,
            PixelFormat::Bgra,
            PixelFormat::Argb,
            PixelFormat::Abgr,
        ] {
            let (bpp, [r, g, b]) = format.packed_layout().unwrap();
            let stride = 2 * bpp + 1;
            let mut data = vec![7u8; stride * 2];
            for (i, p) in px.iter().enumerate() {
                let o = (i / 2) * stride + (i % 2) * bpp;
                data[o + r] = p[0];
                data[o + g] = p[1];
                data[o + b] = p[2];
            }
            let frame = Frame::packed(format, 2, 2, &data, stride).unwrap();
            let mut out = vec![0.0; 12];
            frame
                .write_tensor(Region::full(&frame), &TensorSpec::plain_rgb(2, 2), &mut out)
                .unwrap();
            assert_eq!(out, expect, "{format:?}");
        }
    }
}
