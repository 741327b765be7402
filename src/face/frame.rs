// SPDX-License-Identifier: MPL-2.0
//! A borrowed view of one video frame, and the one resampling pass that turns a region of it into
//! a model's input tensor.
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
//! with the same arithmetic and the same result to the bit; for I420 / NV12 it resamples Y', Cb and Cr and converts each output sample, which differs from converting
//! each source pixel first only by rounding and where a source pixel's RGB would be clamped.

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
    /// For packed formats: bytes per pixel and the byte offsets of R, G and B.
    fn packed_layout(self) -> Option<(usize, [usize; 3])> {
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
        Ok(Frame {
            format,
            width,
            height,
            planes: [data, &[], &[]],
            strides: [stride, 0, 0],
            matrix: YuvMatrix::default(),
            full_range: false,
        })
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
        check_size(width, height)?;
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        check_plane("Y", y, y_stride, width, height)?;
        check_plane("U", u, u_stride, cw, ch)?;
        check_plane("V", v, v_stride, cw, ch)?;
        Ok(Frame {
            format: PixelFormat::I420,
            width,
            height,
            planes: [y, u, v],
            strides: [y_stride, u_stride, v_stride],
            matrix: YuvMatrix::default(),
            full_range: false,
        })
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
        check_size(width, height)?;
        check_plane("Y", y, y_stride, width, height)?;
        check_plane(
            "UV",
            uv,
            uv_stride,
            width.div_ceil(2) * 2,
            height.div_ceil(2),
        )?;
        Ok(Frame {
            format: PixelFormat::Nv12,
            width,
            height,
            planes: [y, uv, &[]],
            strides: [y_stride, uv_stride, 0],
            matrix: YuvMatrix::default(),
            full_range: false,
        })
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

    /// Resamples `region` into `out` as described in the [module documentation](self).
    /// `out` must hold exactly `spec.len()` values.
    pub fn write_tensor(&self, region: Region, spec: &TensorSpec, out: &mut [f32]) -> Result<()> {
        if region.width == 0 || region.height == 0 || spec.width == 0 || spec.height == 0 {
            return Err(Error::InvalidInput(format!(
                "cannot resample a {}x{} region to {}x{}",
                region.width, region.height, spec.width, spec.height
            )));
        }
        if out.len() != spec.len() {
            return Err(Error::InvalidInput(format!(
                "tensor buffer holds {} values, {} needed",
                out.len(),
                spec.len()
            )));
        }
        let cols = axis_table(region.x, region.width, spec.width, self.width);
        let rows = axis_table(region.y, region.height, spec.height, self.height);
        let plane = spec.width * spec.height;
        let (scale, offset) = (spec.scale, spec.offset);
        match spec.channels {
            Channels::Gray => {
                let put = |i: usize, v: [f32; 1]| out[i] = v[0] * scale + offset;
                match self.format.packed_layout() {
                    Some((bpp, [r, g, b])) => {
                        let (data, stride) = (self.planes[0], self.strides[0]);
                        resample(&cols, &rows, spec.width, put, |x, y| {
                            let o = y * stride + x * bpp;
                            [0.299 * f32::from(data[o + r])
                                + 0.587 * f32::from(data[o + g])
                                + 0.114 * f32::from(data[o + b])]
                        })
                    }
                    None => {
                        let (data, stride) = (self.planes[0], self.strides[0]);
                        let full = self.full_range;
                        resample(&cols, &rows, spec.width, put, |x, y| {
                            [luma(data[y * stride + x], full)]
                        })
                    }
                }
            }
            Channels::Rgb | Channels::Bgr if self.write_rgb_inside(&cols, &rows, spec, out) => {}
            Channels::Rgb | Channels::Bgr => {
                let swap = spec.channels == Channels::Bgr;
                let nchw = spec.layout == TensorLayout::Nchw;
                let put = |i: usize, v: [f32; 3]| {
                    let v = if swap { [v[2], v[1], v[0]] } else { v };
                    for (c, value) in v.into_iter().enumerate() {
                        let at = if nchw { c * plane + i } else { i * 3 + c };
                        out[at] = value * scale + offset;
                    }
                };
                match self.format.packed_layout() {
                    Some((bpp, [r, g, b])) => {
                        let (data, stride) = (self.planes[0], self.strides[0]);
                        resample(&cols, &rows, spec.width, put, |x, y| {
                            let o = y * stride + x * bpp;
                            [
                                f32::from(data[o + r]),
                                f32::from(data[o + g]),
                                f32::from(data[o + b]),
                            ]
                        })
                    }
                    None => {
                        let yuv = YuvReader::new(self);
                        resample(&cols, &rows, spec.width, put, |x, y| yuv.rgb(x, y))
                    }
                }
            }
        }
        Ok(())
    }
}

impl<'a> Frame<'a> {
    /// The common case of a colour tensor, done plane by plane: every tap inside the frame (a
    /// detector's input: the whole frame). Each source row a tap uses is resampled along x once,
    /// per plane, into a cached line, gathering each tap's two bytes straight from the row through
    /// a 256-entry table, and pairs of lines are blended along y per plane: loops without
    /// per-sample closures or `Option` taps, over contiguous lines where they can be.
    ///
    /// Packed formats are read as R, G, B, and the arithmetic is the generic pass's operation for
    /// operation: the result is the same to the bit. I420 / NV12 are read as Y', Cb, Cr (each
    /// tap's chroma at `(x / 2, y / 2)`, as the generic pass reads it) and converted to RGB once
    /// per output sample instead of once per source pixel. Colour conversion being affine, this
    /// differs from the generic pass only by float rounding and where a source pixel's RGB is
    /// clamped (out of gamut). Returns false, having written nothing, where it does not apply.
    fn write_rgb_inside(
        &self,
        cols: &[Tap],
        rows: &[Tap],
        spec: &TensorSpec,
        out: &mut [f32],
    ) -> bool {
        let inside = |taps: &[Tap]| -> Option<(Vec<usize>, Vec<usize>, Vec<f32>)> {
            let mut i0 = Vec::with_capacity(taps.len());
            let mut i1 = Vec::with_capacity(taps.len());
            for tap in taps {
                i0.push(tap.i0?);
                i1.push(tap.i1?);
            }
            Some((i0, i1, taps.iter().map(|t| t.t).collect()))
        };
        let (Some((x0, x1, tx)), Some((y0, y1, ty))) = (inside(cols), inside(rows)) else {
            return false;
        };
        let width = spec.width;
        let packed = self.format.packed_layout();
        let yuv = YuvCoefficients::new(self);
        let identity: [f32; 256] = std::array::from_fn(|i| i as f32);
        let luma = luma_table(self.full_range);
        let chroma: [f32; 256] = std::array::from_fn(|i| yuv.chroma(i as u8));
        // Per plane: the frame plane, how to find source row y in it, the byte offsets of each
        // column's two taps inside that row, and the table that turns a byte into a value.
        struct Plane<'t> {
            data: &'t [u8],
            row: fn(usize) -> usize,
            stride: usize,
            taps: Vec<(usize, usize)>,
            table: &'t [f32; 256],
        }
        let taps = |byte: &dyn Fn(usize) -> usize| -> Vec<(usize, usize)> {
            x0.iter()
                .zip(&x1)
                .map(|(&a, &b)| (byte(a), byte(b)))
                .collect()
        };
        let planes: [Plane; 3] = match packed {
            Some((bpp, offsets)) => offsets.map(|off| Plane {
                data: self.planes[0],
                row: |y| y,
                stride: self.strides[0],
                taps: taps(&|x| x * bpp + off),
                table: &identity,
            }),
            None => {
                let (cb, cr) = self.chroma_planes();
                let chroma_plane = |(data, stride, step, off): ChromaPlane<'a>| Plane {
                    data,
                    row: |y| y / 2,
                    stride,
                    taps: taps(&|x| (x / 2) * step + off),
                    table: &chroma,
                };
                [
                    Plane {
                        data: self.planes[0],
                        row: |y| y,
                        stride: self.strides[0],
                        taps: taps(&|x| x),
                        table: &luma,
                    },
                    chroma_plane(cb),
                    chroma_plane(cr),
                ]
            }
        };
        // Lines resampled along x, [plane][column].
        let mut lines = LinePair::new(|| std::array::from_fn(|_| vec![0.0; width]));
        let along_x = |y: usize, line: &mut [Vec<f32>; 3]| {
            for (plane, line) in planes.iter().zip(line.iter_mut()) {
                let row = &plane.data[(plane.row)(y) * plane.stride..];
                for (v, (&(a, b), &t)) in line.iter_mut().zip(plane.taps.iter().zip(&tx)) {
                    let (p0, p1) = (
                        plane.table[usize::from(row[a])],
                        plane.table[usize::from(row[b])],
                    );
                    *v = p0 + (p1 - p0) * t;
                }
            }
        };
        let mut blended: [Vec<f32>; 3] = std::array::from_fn(|_| vec![0.0; width]);
        let order = match spec.channels {
            Channels::Bgr => [2, 1, 0],
            _ => [0, 1, 2],
        };
        let (scale, offset) = (spec.scale, spec.offset);
        let plane = width * spec.height;
        for (dy, ((&r0, &r1), &t)) in y0.iter().zip(&y1).zip(&ty).enumerate() {
            let (a, b) = lines.rows(r0, r1, &along_x);
            if packed.is_some() && spec.layout == TensorLayout::Nchw {
                // The usual detector input: blend straight into the tensor's planes.
                for (c, &source) in order.iter().enumerate() {
                    let start = c * plane + dy * width;
                    let pairs = a[source].iter().zip(&b[source]);
                    for (o, (p0, p1)) in out[start..start + width].iter_mut().zip(pairs) {
                        *o = (p0 + (p1 - p0) * t) * scale + offset;
                    }
                }
                continue;
            }
            for ((v, a), b) in blended.iter_mut().zip(a).zip(b) {
                for ((v, p0), p1) in v.iter_mut().zip(a).zip(b) {
                    *v = p0 + (p1 - p0) * t;
                }
            }
            if packed.is_none() {
                let [l, cb, cr] = &mut blended;
                for ((l, cb), cr) in l.iter_mut().zip(cb.iter_mut()).zip(cr.iter_mut()) {
                    [*l, *cb, *cr] = yuv.rgb(*l, *cb, *cr);
                }
            }
            for (c, &source) in order.iter().enumerate() {
                let values = blended[source].iter().map(|v| v * scale + offset);
                match spec.layout {
                    TensorLayout::Nchw => {
                        let start = c * plane + dy * width;
                        for (o, v) in out[start..start + width].iter_mut().zip(values) {
                            *o = v;
                        }
                    }
                    TensorLayout::Nhwc => {
                        let row = &mut out[dy * width * 3..(dy + 1) * width * 3];
                        for (o, v) in row.iter_mut().skip(c).step_by(3).zip(values) {
                            *o = v;
                        }
                    }
                }
            }
        }
        true
    }

    /// Cb and Cr.
    fn chroma_planes(&self) -> (ChromaPlane<'a>, ChromaPlane<'a>) {
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
type ChromaPlane<'a> = (&'a [u8], usize, usize, usize);

/// The frame's YUV → RGB conversion: R = Y' + cr_r·Cr; G = Y' − cb_g·Cb − cr_g·Cr;
/// B = Y' + cb_b·Cb, with Y' from [`luma`] and Cb, Cr from [`YuvCoefficients::chroma`].
struct YuvCoefficients {
    full_range: bool,
    cr_r: f32,
    cb_g: f32,
    cr_g: f32,
    cb_b: f32,
}

impl YuvCoefficients {
    fn new(frame: &Frame<'_>) -> YuvCoefficients {
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
    fn chroma(&self, c: u8) -> f32 {
        let c = f32::from(c) - 128.0;
        if self.full_range {
            c
        } else {
            c * (255.0 / 224.0)
        }
    }

    #[inline]
    fn rgb(&self, luma: f32, cb: f32, cr: f32) -> [f32; 3] {
        [
            (luma + self.cr_r * cr).clamp(0.0, 255.0),
            (luma - self.cb_g * cb - self.cr_g * cr).clamp(0.0, 255.0),
            (luma + self.cb_b * cb).clamp(0.0, 255.0),
        ]
    }
}

/// [`luma`] of every byte value.
fn luma_table(full_range: bool) -> [f32; 256] {
    std::array::from_fn(|i| luma(i as u8, full_range))
}

/// Y (0–255, or limited 16–235 expanded to 0–255) as f32.
#[inline]
fn luma(y: u8, full_range: bool) -> f32 {
    if full_range {
        f32::from(y)
    } else {
        ((f32::from(y) - 16.0) * (255.0 / 219.0)).clamp(0.0, 255.0)
    }
}

struct YuvReader<'a> {
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
    fn new(frame: &Frame<'a>) -> YuvReader<'a> {
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
    fn rgb(&self, x: usize, y: usize) -> [f32; 3] {
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

/// An integer pixel rectangle of a frame; it may extend past the frame's edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Left column (may be negative).
    pub x: i64,
    /// Top row (may be negative).
    pub y: i64,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Region {
    /// The whole frame.
    pub fn full(frame: &Frame<'_>) -> Region {
        Region {
            x: 0,
            y: 0,
            width: frame.width(),
            height: frame.height(),
        }
    }
}

/// Channels of a tensor (`"gray"`, `"rgb"`, `"bgr"` in descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// One channel, luma.
    Gray,
    /// R, G, B.
    Rgb,
    /// B, G, R.
    Bgr,
}

impl Channels {
    /// Number of channels.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb | Channels::Bgr => 3,
        }
    }
}

/// Memory layout of one image in a tensor (`"nchw"`, `"nhwc"` in descriptors).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TensorLayout {
    /// Channel planes (`[C, H, W]`).
    #[default]
    Nchw,
    /// Interleaved channels (`[H, W, C]`).
    Nhwc,
}

/// What one image of a model input looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorSpec {
    /// Width in samples.
    pub width: usize,
    /// Height in samples.
    pub height: usize,
    /// Channels and their order.
    pub channels: Channels,
    /// Memory layout.
    pub layout: TensorLayout,
    /// Multiplier applied to the 0–255 value.
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
}

impl TensorSpec {
    /// Number of f32 values of one image.
    pub fn len(&self) -> usize {
        self.width * self.height * self.channels.count()
    }

    /// True when the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One output sample along an axis: source indices (None: outside the frame) and the weight of
/// the second one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    i0: Option<usize>,
    i1: Option<usize>,
    t: f32,
}

fn axis_table(origin: i64, size: usize, dst: usize, limit: usize) -> Vec<Tap> {
    let ratio = size as f64 / dst as f64;
    let last = (size - 1) as f64;
    let inside = |i: usize| {
        let abs = origin + i as i64;
        (abs >= 0 && (abs as u64) < limit as u64).then_some(abs as usize)
    };
    (0..dst)
        .map(|d| {
            let src = ((d as f64 + 0.5) * ratio - 0.5).clamp(0.0, last);
            let i0 = src.floor() as usize;
            let i1 = (i0 + 1).min(size - 1);
            Tap {
                i0: inside(i0),
                i1: inside(i1),
                t: (src - i0 as f64) as f32,
            }
        })
        .collect()
}

/// The two lines resampled along x that one output row blends, each tagged with the source row
/// (`K`) it holds, kept while the next output row can still use them.
struct LinePair<K, L> {
    lines: [(Option<K>, L); 2],
}

impl<K: Copy + PartialEq, L> LinePair<K, L> {
    fn new(empty: impl Fn() -> L) -> LinePair<K, L> {
        LinePair {
            lines: [(None, empty()), (None, empty())],
        }
    }

    /// The lines of source rows `r0` and `r1`; `fill(row, line)` resamples a row not held yet,
    /// into the slot that does not hold the other row.
    fn rows(&mut self, r0: K, r1: K, mut fill: impl FnMut(K, &mut L)) -> (&L, &L) {
        let mut slot = |key: K, free: usize, lines: &mut [(Option<K>, L); 2]| {
            if let Some(i) = lines.iter().position(|(k, _)| *k == Some(key)) {
                return i;
            }
            fill(key, &mut lines[free].1);
            lines[free].0 = Some(key);
            free
        };
        let top = slot(
            r0,
            usize::from(self.lines[0].0 == Some(r1)),
            &mut self.lines,
        );
        let bottom = slot(r1, 1 - top, &mut self.lines);
        (&self.lines[top].1, &self.lines[bottom].1)
    }
}

/// Bilinear resampling driver: `fetch(x, y)` reads one in-frame source pixel, `put(i, v)` stores
/// output sample `i` (row-major over the output).
///
/// Separable: each source row an output row needs is resampled along x once (two taps per
/// output sample; the row read once over the columns the taps use unless the downscale skips
/// columns) and kept while the next output row can still use it, then rows are blended along y.
/// The arithmetic is the same as blending the four neighbours of each sample directly (x first,
/// then y), so the result does not depend on how rows are shared.
#[inline]
fn resample<const C: usize>(
    cols: &[Tap],
    rows: &[Tap],
    width: usize,
    mut put: impl FnMut(usize, [f32; C]),
    fetch: impl Fn(usize, usize) -> [f32; C],
) {
    let blend = |p0: [f32; C], p1: [f32; C], t: f32| {
        let mut v = [0.0; C];
        for c in 0..C {
            v[c] = p0[c] + (p1[c] - p0[c]) * t;
        }
        v
    };
    // The source columns any tap reads. Where they are at most two per output sample, each
    // needed source row is read over them once; a stronger downscale skips columns, so its taps
    // read their pixels directly.
    let inside = || cols.iter().flat_map(|c| [c.i0, c.i1]).flatten();
    let span = inside().min().zip(inside().max());
    let dense = span.is_some_and(|(lo, hi)| hi - lo < 2 * cols.len());
    let mut source = Vec::with_capacity(if dense { 2 * cols.len() } else { 0 });
    let mut along_x = |y: Option<usize>, line: &mut Vec<[f32; C]>| {
        line.clear();
        let (Some(y), Some((lo, hi))) = (y, span) else {
            line.resize(cols.len(), [0.0; C]);
            return;
        };
        if dense {
            source.clear();
            source.extend((lo..=hi).map(|x| fetch(x, y)));
            let read = |x: Option<usize>| x.map_or([0.0; C], |x| source[x - lo]);
            line.extend(
                cols.iter()
                    .map(|col| blend(read(col.i0), read(col.i1), col.t)),
            );
        } else {
            let read = |x: Option<usize>| x.map_or([0.0; C], |x| fetch(x, y));
            line.extend(
                cols.iter()
                    .map(|col| blend(read(col.i0), read(col.i1), col.t)),
            );
        }
    };
    // Keys: the source row, None for a row outside the frame (all zero).
    let mut lines = LinePair::new(|| Vec::with_capacity(cols.len()));
    for (dy, row) in rows.iter().enumerate() {
        let (top, bottom) = lines.rows(row.i0, row.i1, &mut along_x);
        for (dx, (t, b)) in top.iter().zip(bottom).enumerate() {
            put(dy * width + dx, blend(*t, *b, row.t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RGB_SPEC: TensorSpec = TensorSpec {
        width: 2,
        height: 2,
        channels: Channels::Rgb,
        layout: TensorLayout::Nchw,
        scale: 1.0,
        offset: 0.0,
    };

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
                .write_tensor(Region::full(&frame), &RGB_SPEC, &mut out)
                .unwrap();
            assert_eq!(out, expect, "{format:?}");
        }
    }

    #[test]
    fn bilinear_half_pixel_and_padding() {
        // 1 row: 0, 100, 200, 44 → 2 samples: src = 0.5 and 2.5
        let data = [0u8, 100, 200, 44];
        let frame = Frame::nv12(4, 1, &data, 4, &[128; 4], 4).unwrap();
        let spec = TensorSpec {
            width: 2,
            height: 1,
            channels: Channels::Gray,
            layout: TensorLayout::Nchw,
            scale: 1.0,
            offset: 0.0,
        };
        let frame = frame.with_colorimetry(YuvMatrix::Bt601, true);
        let mut out = vec![0.0; 2];
        frame
            .write_tensor(Region::full(&frame), &spec, &mut out)
            .unwrap();
        assert_eq!(out, vec![50.0, 122.0]);
        // Region starting one pixel left of the frame, 4 wide → 8 samples, clamped at both ends.
        let spec8 = TensorSpec { width: 8, ..spec };
        let mut out = vec![0.0; 8];
        let region = Region {
            x: -1,
            y: 0,
            width: 4,
            height: 1,
        };
        frame.write_tensor(region, &spec8, &mut out).unwrap();
        // src = -0.25→0 (pad 0), 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25→3 (pixel 2 = 100)
        let expect = [0.0, 0.0, 0.0, 25.0, 75.0, 125.0, 175.0, 200.0];
        for (o, e) in out.iter().zip(expect) {
            assert!((o - e).abs() < 1e-4, "{out:?}");
        }
        // scale/offset, and a wrong buffer size.
        let spec = TensorSpec {
            scale: 2.0 / 255.0,
            offset: -1.0,
            ..spec
        };
        let mut out = vec![0.0; 2];
        frame
            .write_tensor(Region::full(&frame), &spec, &mut out)
            .unwrap();
        assert!((out[0] - (50.0 * 2.0 / 255.0 - 1.0)).abs() < 1e-6);
        assert!(
            frame
                .write_tensor(Region::full(&frame), &spec, &mut [0.0; 3])
                .is_err()
        );
    }

    #[test]
    fn yuv_gray_is_y_and_rgb_converts() {
        // limited-range: Y 16 → 0, 235 → 255; neutral chroma gives gray RGB.
        let y = [16u8, 235, 126, 126];
        let u = [128u8];
        let v = [128u8];
        let frame = Frame::i420(2, 2, &y, 2, &u, 1, &v, 1).unwrap();
        let mut out = vec![0.0; 12];
        frame
            .write_tensor(Region::full(&frame), &RGB_SPEC, &mut out)
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
            ..RGB_SPEC
        };
        let mut out = vec![0.0; 3];
        frame
            .write_tensor(Region::full(&frame), &spec, &mut out)
            .unwrap();
        assert!(out[2] > 250.0 && out[1] < 3.0 && out[0] < 3.0, "{out:?}");
    }

    /// The four-neighbour formula of the module documentation, sample by sample, each pixel read
    /// alone (a 1x1 region).
    fn naive(frame: &Frame<'_>, region: Region, spec: &TensorSpec) -> Vec<f32> {
        let cols = axis_table(region.x, region.width, spec.width, frame.width());
        let rows = axis_table(region.y, region.height, spec.height, frame.height());
        let channels = spec.channels.count();
        let px = |x: Option<usize>, y: Option<usize>| match (x, y) {
            (Some(x), Some(y)) => {
                let mut one = vec![0.0f32; channels];
                let single = Region {
                    x: x as i64,
                    y: y as i64,
                    width: 1,
                    height: 1,
                };
                let one_spec = TensorSpec {
                    width: 1,
                    height: 1,
                    scale: 1.0,
                    offset: 0.0,
                    ..*spec
                };
                frame.write_tensor(single, &one_spec, &mut one).unwrap();
                one
            }
            _ => vec![0.0; channels],
        };
        let mut out = vec![0.0; spec.len()];
        let plane = spec.width * spec.height;
        for (dy, row) in rows.iter().enumerate() {
            for (dx, col) in cols.iter().enumerate() {
                let (a, b) = (px(col.i0, row.i0), px(col.i1, row.i0));
                let (c, d) = (px(col.i0, row.i1), px(col.i1, row.i1));
                for ch in 0..channels {
                    let top = a[ch] + (b[ch] - a[ch]) * col.t;
                    let bottom = c[ch] + (d[ch] - c[ch]) * col.t;
                    let i = dy * spec.width + dx;
                    let at = match spec.layout {
                        TensorLayout::Nchw => ch * plane + i,
                        TensorLayout::Nhwc => i * channels + ch,
                    };
                    out[at] = (top + (bottom - top) * row.t) * spec.scale + spec.offset;
                }
            }
        }
        out
    }

    #[test]
    fn separable_pass_equals_the_four_neighbour_formula() {
        let (width, height) = (37usize, 23usize);
        let mut seed = 12345u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        let data: Vec<u8> = (0..width * 4 * height).map(|_| next()).collect();
        let packed = Frame::packed(PixelFormat::Bgrx, width, height, &data, width * 4).unwrap();
        // YUV within the RGB gamut (Y' 51-214, |Cb|, |Cr| < 23): the dense colour pass converts
        // after resampling, which equals converting first up to rounding where nothing clamps.
        let y: Vec<u8> = (0..width * height).map(|_| 60 + next() % 140).collect();
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let u: Vec<u8> = (0..cw * ch).map(|_| 108 + next() % 40).collect();
        let v: Vec<u8> = (0..cw * ch).map(|_| 108 + next() % 40).collect();
        let planar = Frame::i420(width, height, &y, width, &u, cw, &v, cw).unwrap();
        let regions = [
            Region::full(&packed),
            Region {
                x: -5,
                y: -3,
                width: 20,
                height: 31,
            },
            Region {
                x: 30,
                y: 20,
                width: 11,
                height: 7,
            },
            Region {
                x: 3,
                y: 4,
                width: 1,
                height: 1,
            },
        ];
        let (uv, uv_stride) = (
            u.iter()
                .zip(&v)
                .flat_map(|(&u, &v)| [u, v])
                .collect::<Vec<u8>>(),
            2 * cw,
        );
        let semi = Frame::nv12(width, height, &y, width, &uv, uv_stride).unwrap();
        for frame in [packed, planar, semi] {
            for region in regions {
                // Upscales, the identity, downscales by up to 2 (the dense colour pass) and by
                // more, in every channel order and layout.
                let sizes = [(64, 64), (8, 5), (37, 23), (13, 40), (19, 12), (20, 11)];
                let kinds = [
                    (Channels::Gray, TensorLayout::Nchw, 1.0, 0.0),
                    (Channels::Rgb, TensorLayout::Nchw, 1.0, 0.0),
                    (Channels::Bgr, TensorLayout::Nchw, 2.0 / 255.0, -1.0),
                    (Channels::Rgb, TensorLayout::Nhwc, 1.0 / 255.0, 0.0),
                    (Channels::Bgr, TensorLayout::Nhwc, 1.0, -128.0),
                ];
                for ((w, h), (channels, layout, scale, offset)) in
                    sizes.into_iter().flat_map(|s| kinds.map(|k| (s, k)))
                {
                    let spec = TensorSpec {
                        width: w,
                        height: h,
                        channels,
                        layout,
                        scale,
                        offset,
                    };
                    let mut out = vec![0.0; spec.len()];
                    frame.write_tensor(region, &spec, &mut out).unwrap();
                    let expect = naive(&frame, region, &spec);
                    if frame.format.is_yuv() && channels != Channels::Gray {
                        let tolerance = 1e-4 * (255.0 * scale).max(1.0);
                        for (o, e) in out.iter().zip(&expect) {
                            assert!((o - e).abs() <= tolerance, "{region:?} {spec:?}: {o} {e}");
                        }
                    } else {
                        assert_eq!(out, expect, "{region:?} {spec:?}");
                    }
                }
            }
        }
    }
}
