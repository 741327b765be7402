// SPDX-License-Identifier: MPL-2.0
//! A drawing surface over a mapped packed-RGB video frame, for `embedded-graphics`.
//!
//! GStreamer-free: it takes the frame's bytes, size, stride and channel layout, so any packed
//! 3- or 4-byte RGB format with any row stride can be drawn on without a copy.

use embedded_graphics::Pixel;
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Size};

/// Byte positions of R, G and B within one pixel, and the pixel size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub bytes_per_pixel: usize,
    pub r: usize,
    pub g: usize,
    pub b: usize,
}

/// A mutable view of a packed RGB frame.
pub struct Canvas<'a> {
    data: &'a mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    layout: Layout,
}

impl<'a> Canvas<'a> {
    /// Returns `None` when `data` is too small for `height` rows of `stride` bytes holding
    /// `width` pixels of `layout`.
    pub fn new(
        data: &'a mut [u8],
        width: u32,
        height: u32,
        stride: usize,
        layout: Layout,
    ) -> Option<Self> {
        let row = width as usize * layout.bytes_per_pixel;
        let needed = if height == 0 {
            0
        } else {
            stride * (height as usize - 1) + row
        };
        (stride >= row && data.len() >= needed).then_some(Canvas {
            data,
            width,
            height,
            stride,
            layout,
        })
    }
}

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(point, color) in pixels {
            let (Ok(x), Ok(y)) = (u32::try_from(point.x), u32::try_from(point.y)) else {
                continue;
            };
            if x >= self.width || y >= self.height {
                continue;
            }
            let at = y as usize * self.stride + x as usize * self.layout.bytes_per_pixel;
            self.data[at + self.layout.r] = color.r();
            self.data[at + self.layout.g] = color.g();
            self.data[at + self.layout.b] = color.b();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::prelude::*;
    use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};

    const BGRX: Layout = Layout {
        bytes_per_pixel: 4,
        r: 2,
        g: 1,
        b: 0,
    };
    const RGB: Layout = Layout {
        bytes_per_pixel: 3,
        r: 0,
        g: 1,
        b: 2,
    };

    #[test]
    fn draws_inside_bounds_and_respects_stride_and_layout() {
        // 3x2 RGB with a padded stride of 12 bytes.
        let mut data = vec![0u8; 24];
        let mut canvas = Canvas::new(&mut data, 3, 2, 12, RGB).unwrap();
        Rectangle::new(Point::new(-5, -5), Size::new(100, 100))
            .into_styled(PrimitiveStyle::with_fill(Rgb888::new(1, 2, 3)))
            .draw(&mut canvas)
            .unwrap();
        assert_eq!(&data[0..9], &[1, 2, 3, 1, 2, 3, 1, 2, 3]);
        assert_eq!(&data[9..12], &[0, 0, 0], "row padding untouched");
        assert_eq!(&data[12..21], &[1, 2, 3, 1, 2, 3, 1, 2, 3]);

        let mut data = vec![0u8; 4];
        let mut canvas = Canvas::new(&mut data, 1, 1, 4, BGRX).unwrap();
        Pixel(Point::new(0, 0), Rgb888::new(10, 20, 30))
            .draw(&mut canvas)
            .unwrap();
        assert_eq!(data, [30, 20, 10, 0]);
    }

    #[test]
    fn rejects_short_buffers() {
        let mut data = vec![0u8; 10];
        assert!(Canvas::new(&mut data, 2, 2, 6, RGB).is_none());
        assert!(
            Canvas::new(&mut data, 4, 1, 6, RGB).is_none(),
            "stride smaller than a row"
        );
    }
}
