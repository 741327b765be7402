// SPDX-License-Identifier: MPL-2.0
//! Anonymising a region of a packed-RGB frame: a pixelation (each block filled with its mean)
//! or a blur (two passes of a separable box filter, close to a Gaussian). GStreamer-free: it
//! works on the frame's bytes, row stride and pixel size; every byte of a pixel is treated alike.

/// A region in pixels, clipped to the frame by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// A frame's bytes: `stride` bytes per row, `bpp` bytes per pixel.
pub struct Plane<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
    pub bpp: usize,
}

impl Plane<'_> {
    fn at(&self, x: usize, y: usize) -> usize {
        y * self.stride + x * self.bpp
    }
}

/// Fills each `block`×`block` cell of `region` with its mean colour.
pub fn pixelate(plane: &mut Plane<'_>, region: Region, block: usize) {
    let block = block.max(1);
    for by in (region.y..region.y + region.height).step_by(block) {
        let bh = block.min(region.y + region.height - by);
        for bx in (region.x..region.x + region.width).step_by(block) {
            let bw = block.min(region.x + region.width - bx);
            let mut sum = [0u64; 4];
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let at = plane.at(x, y);
                    for (c, s) in sum.iter_mut().enumerate().take(plane.bpp) {
                        *s += u64::from(plane.data[at + c]);
                    }
                }
            }
            let n = (bw * bh) as u64;
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let at = plane.at(x, y);
                    for (c, s) in sum.iter().enumerate().take(plane.bpp) {
                        plane.data[at + c] = ((s + n / 2) / n) as u8;
                    }
                }
            }
        }
    }
}

/// Blurs `region` with a box filter of `radius` pixels, twice along each axis. Samples past the
/// region's edge repeat the edge, so nothing outside the region is read or written.
pub fn blur(plane: &mut Plane<'_>, region: Region, radius: usize) {
    if radius == 0 || region.width == 0 || region.height == 0 {
        return;
    }
    let mut line = Vec::new();
    for _ in 0..2 {
        for y in region.y..region.y + region.height {
            let start = plane.at(region.x, y);
            box_line(plane, start, plane.bpp, region.width, radius, &mut line);
        }
        for x in region.x..region.x + region.width {
            let start = plane.at(x, region.y);
            box_line(plane, start, plane.stride, region.height, radius, &mut line);
        }
    }
}

/// One box-filter pass over `len` pixels from byte `start`, `step` bytes apart.
fn box_line(
    plane: &mut Plane<'_>,
    start: usize,
    step: usize,
    len: usize,
    radius: usize,
    line: &mut Vec<u8>,
) {
    let bpp = plane.bpp;
    line.clear();
    line.extend((0..len).flat_map(|i| {
        let at = start + i * step;
        plane.data[at..at + bpp].to_vec()
    }));
    let window = (2 * radius + 1) as u32;
    let value =
        |i: isize, c: usize| u32::from(line[i.clamp(0, len as isize - 1) as usize * bpp + c]);
    for c in 0..bpp {
        let mut sum: u32 = (-(radius as isize)..=radius as isize)
            .map(|i| value(i, c))
            .sum();
        for i in 0..len {
            plane.data[start + i * step + c] = ((sum + window / 2) / window) as u8;
            let i = i as isize;
            sum = sum + value(i + radius as isize + 1, c) - value(i - radius as isize, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16×12 frame of 4-byte pixels with a fine pattern.
    fn pattern() -> Vec<u8> {
        (0..16 * 12 * 4).map(|i| ((i * 37) % 251) as u8).collect()
    }

    fn check(anonymise: impl Fn(&mut Plane<'_>, Region)) {
        let before = pattern();
        let mut data = before.clone();
        let region = Region {
            x: 4,
            y: 3,
            width: 8,
            height: 6,
        };
        anonymise(
            &mut Plane {
                data: &mut data,
                stride: 64,
                bpp: 4,
            },
            region,
        );
        let mut changed_inside = 0;
        for y in 0..12 {
            for x in 0..16 {
                let at = y * 64 + x * 4;
                let inside = (4..12).contains(&x) && (3..9).contains(&y);
                let same = data[at..at + 4] == before[at..at + 4];
                if inside {
                    changed_inside += usize::from(!same);
                } else {
                    assert!(same, "pixel ({x}, {y}) outside the region changed");
                }
            }
        }
        assert!(
            changed_inside >= 40,
            "{changed_inside} of 48 inside changed"
        );
    }

    #[test]
    fn pixelation_and_blur_change_the_region_only() {
        check(|plane, region| pixelate(plane, region, 4));
        check(|plane, region| blur(plane, region, 2));
    }

    #[test]
    fn a_pixelated_block_is_its_mean() {
        let mut data = vec![0u8, 10, 20, 30, 40, 50];
        let mut plane = Plane {
            data: &mut data,
            stride: 6,
            bpp: 3,
        };
        let region = Region {
            x: 0,
            y: 0,
            width: 2,
            height: 1,
        };
        pixelate(&mut plane, region, 2);
        assert_eq!(data, [15, 25, 35, 15, 25, 35]);
    }
}
