// SPDX-License-Identifier: MPL-2.0
//! Resampling: [`Frame::write_tensor`] as the [frame module](super) describes it. Per axis a
//! table of [`Tap`]s (the two source pixels and the weight of each output sample); a [`LinePair`]
//! keeps the two source rows, resampled along x, that an output row blends; the generic pass
//! ([`resample`]) reads pixels through a closure, and the plane-by-plane pass
//! ([`Frame::write_rgb_inside`]) serves colour tensors of regions inside the frame.

use super::colour::{ChromaPlane, YuvCoefficients, YuvReader, luma, luma_table};
use super::{Channels, Frame, Region, TensorLayout, TensorSpec};
use crate::error::{Error, Result};

impl<'a> Frame<'a> {
    /// Resamples `region` into `out` as described in the [module documentation](super).
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
    use super::super::PixelFormat;
    use super::super::YuvMatrix;
    use super::*;

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
