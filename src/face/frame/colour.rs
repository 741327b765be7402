// SPDX-License-Identifier: MPL-2.0
//! Colour: the luma of a Y byte, the frame's YUV → RGB coefficients ([`YuvCoefficients`], built
//! from its [`YuvMatrix`] and range) and the per-byte lookup tables [`YuvReader`] builds from
//! them to read one pixel's RGB. Where each frame format keeps its chroma ([`Frame::chroma_planes`])
//! is here too.

use super::{Frame, PixelFormat};

/// YUV → RGB matrix of a YUV frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum YuvMatrix {
    /// ITU-R BT.601 (SD).
    #[default]
    Bt601,
    /// ITU-R BT.709 (HD).
    Bt709,
}

impl YuvMatrix {
    /// `(Kr, Kb)`.
    fn coefficients(self) -> (f32, f32) {
        match self {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        }
    }
}

impl<'a> Frame<'a> {
    /// Cb and Cr.
    pub(super) fn chroma_planes(&self) -> (ChromaPlane<'a>, ChromaPlane<'a>) {
        match self.format {
            PixelFormat::Nv12 => (
                (self.planes[1], self.strides[1], 2, 0),
                (self.planes[1], self.strides[1], 2, 1),
            ),
            _ => (
                (self.planes[1], self.strides[1], 1, 0),
                (self.planes[2], self.strides[2], 1, 0),
            ),
        }
    }
}

/// One chroma plane: (plane, stride, byte step between horizontal samples, offset inside a sample).
pub(super) type ChromaPlane<'a> = (&'a [u8], usize, usize, usize);

/// The frame's YUV → RGB conversion: R = Y' + cr_r·Cr; G = Y' − cb_g·Cb − cr_g·Cr;
/// B = Y' + cb_b·Cb, with Y' from [`luma`] and Cb, Cr from [`YuvCoefficients::chroma`].
pub(super) struct YuvCoefficients {
    full_range: bool,
    cr_r: f32,
    cb_g: f32,
    cr_g: f32,
    cb_b: f32,
}

impl YuvCoefficients {
    pub(super) fn new(frame: &Frame<'_>) -> YuvCoefficients {
        let (kr, kb) = frame.matrix.coefficients();
        let kg = 1.0 - kr - kb;
        YuvCoefficients {
            full_range: frame.full_range,
            cr_r: 2.0 * (1.0 - kr),
            cb_g: 2.0 * kb * (1.0 - kb) / kg,
            cr_g: 2.0 * kr * (1.0 - kr) / kg,
            cb_b: 2.0 * (1.0 - kb),
        }
    }

    /// A chroma byte centred on 0 (limited range 16–240 expanded to ±127.5).
    #[inline]
    pub(super) fn chroma(&self, c: u8) -> f32 {
        let c = f32::from(c) - 128.0;
        if self.full_range {
            c
        } else {
            c * (255.0 / 224.0)
        }
    }

    #[inline]
    pub(super) fn rgb(&self, luma: f32, cb: f32, cr: f32) -> [f32; 3] {
        [
            (luma + self.cr_r * cr).clamp(0.0, 255.0),
            (luma - self.cb_g * cb - self.cr_g * cr).clamp(0.0, 255.0),
            (luma + self.cb_b * cb).clamp(0.0, 255.0),
        ]
    }
}

/// [`luma`] of every byte value.
pub(super) fn luma_table(full_range: bool) -> [f32; 256] {
    std::array::from_fn(|i| luma(i as u8, full_range))
}

/// Y (0–255, or limited 16–235 expanded to 0–255) as f32.
#[inline]
pub(super) fn luma(y: u8, full_range: bool) -> f32 {
    if full_range {
        f32::from(y)
    } else {
        ((f32::from(y) - 16.0) * (255.0 / 219.0)).clamp(0.0, 255.0)
    }
}

pub(super) struct YuvReader<'a> {
    y: &'a [u8],
    y_stride: usize,
    u: ChromaPlane<'a>,
    v: ChromaPlane<'a>,
    /// Lookup tables by byte value: luma, and the chroma terms of
    /// R = Y + cr_r·Cr; G = Y − cb_g·Cb − cr_g·Cr; B = Y + cb_b·Cb.
    luma: [f32; 256],
    cr_r: [f32; 256],
    cb_g: [f32; 256],
    cr_g: [f32; 256],
    cb_b: [f32; 256],
}

impl<'a> YuvReader<'a> {
    pub(super) fn new(frame: &Frame<'a>) -> YuvReader<'a> {
        let (u, v) = frame.chroma_planes();
        let yuv = YuvCoefficients::new(frame);
        let table = |k: f32| std::array::from_fn(|i| k * yuv.chroma(i as u8));
        YuvReader {
            y: frame.planes[0],
            y_stride: frame.strides[0],
            u,
            v,
            luma: luma_table(frame.full_range),
            cr_r: table(yuv.cr_r),
            cb_g: table(yuv.cb_g),
            cr_g: table(yuv.cr_g),
            cb_b: table(yuv.cb_b),
        }
    }

    #[inline]
    pub(super) fn rgb(&self, x: usize, y: usize) -> [f32; 3] {
        let luma = self.luma[usize::from(self.y[y * self.y_stride + x])];
        let (cx, cy) = (x / 2, y / 2);
        let at = |(p, stride, step, off): (&[u8], usize, usize, usize)| {
            usize::from(p[cy * stride + cx * step + off])
        };
        let (cb, cr) = (at(self.u), at(self.v));
        [
            (luma + self.cr_r[cr]).clamp(0.0, 255.0),
            (luma - self.cb_g[cb] - self.cr_g[cr]).clamp(0.0, 255.0),
            (luma + self.cb_b[cb]).clamp(0.0, 255.0),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Channels, Region, TensorLayout, TensorSpec};
    use super::*;

    #[test]
    fn yuv_gray_is_y_and_rgb_converts() {
        // limited-range: Y 16 → 0, 235 → 255; neutral chroma gives gray RGB.
        let y = [16u8, 235, 126, 126];
        let u = [128u8];
        let v = [128u8];
        let frame = Frame::i420(2, 2, &y, 2, &u, 1, &v, 1).unwrap();
        let mut out = vec![0.0; 12];
        frame
            .write_tensor(Region::full(&frame), &TensorSpec::plain_rgb(2, 2), &mut out)
            .unwrap();
        let g = (126.0 - 16.0) * 255.0 / 219.0;
        for c in 0..3 {
            let plane = &out[c * 4..c * 4 + 4];
            assert!((plane[0] - 0.0).abs() < 1e-3);
            assert!((plane[1] - 255.0).abs() < 1e-3);
            assert!((plane[2] - g).abs() < 1e-3);
        }
        // Pure red in BT.601 limited range: Y 81, U 90, V 240.
        let frame = Frame::i420(1, 1, &[81], 1, &[90], 1, &[240], 1).unwrap();
        let spec = TensorSpec {
            width: 1,
            height: 1,
            layout: TensorLayout::Nhwc,
            channels: Channels::Bgr,
            ..TensorSpec::plain_rgb(2, 2)
        };
        let mut out = vec![0.0; 3];
        frame
            .write_tensor(Region::full(&frame), &spec, &mut out)
            .unwrap();
        assert!(out[2] > 250.0 && out[1] < 3.0 && out[0] < 3.0, "{out:?}");
    }
}
