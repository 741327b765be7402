// SPDX-License-Identifier: MPL-2.0
//! Boxes, IoU and non-maximum suppression (pure, no model).
//!
//! Coordinates are in pixels of the image the box refers to, with pixel `i` covering `[i, i + 1)`
//! (so a box over the whole `w × h` image is `(0, 0, w, h)`).

/// An axis-aligned box given by its corners, `x1 <= x2`, `y1 <= y2`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge (exclusive).
    pub x2: f32,
    /// Bottom edge (exclusive).
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    /// A box from its top-left corner and size.
    pub fn from_xywh(x: f32, y: f32, width: f32, height: f32) -> BBox {
        BBox::new(x, y, x + width, y + height)
    }

    /// A box from its centre and size.
    pub fn from_center(cx: f32, cy: f32, width: f32, height: f32) -> BBox {
        BBox::new(
            cx - width / 2.0,
            cy - height / 2.0,
            cx + width / 2.0,
            cy + height / 2.0,
        )
    }

    /// Width (0 for an empty or inverted box).
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height (0 for an empty or inverted box).
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area (0 for an empty or inverted box).
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Centre point `(x, y)`.
    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// True when every coordinate is finite and the box has a positive area.
    pub fn is_valid(&self) -> bool {
        [self.x1, self.y1, self.x2, self.y2]
            .iter()
            .all(|v| v.is_finite())
            && self.x2 > self.x1
            && self.y2 > self.y1
    }

    /// Intersection over union, in `[0, 1]`; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The box with every x multiplied by `sx` and every y by `sy` (maps between image sizes).
    pub fn scale(&self, sx: f32, sy: f32) -> BBox {
        BBox::new(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)
    }

    /// The box moved by `(dx, dy)`.
    pub fn translate(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)
    }

    /// The box limited to `[0, width] × [0, height]`.
    pub fn clip(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// The square with the same centre whose side is the longer side of this box.
    pub fn square(&self) -> BBox {
        let (cx, cy) = self.center();
        let side = self.width().max(self.height());
        BBox::from_center(cx, cy, side, side)
    }

    /// The box grown by `margin` on each side (shrunk when negative).
    pub fn expand(&self, margin: f32) -> BBox {
        BBox::new(
            self.x1 - margin,
            self.y1 - margin,
            self.x2 + margin,
            self.y2 + margin,
        )
    }
}

/// Greedy non-maximum suppression: visits boxes by decreasing score and keeps a box unless it
/// overlaps an already kept one with an IoU above `iou_threshold`. Returns the indices of the kept
/// boxes, best first. Ties keep the earlier index first. NaN scores sort last.
///
/// # Panics
/// Never; `scores` shorter than `boxes` only considers the first `scores.len()` boxes.
pub fn nms(boxes: &[BBox], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    let n = boxes.len().min(scores.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (scores[a], scores[b]);
        sb.partial_cmp(&sa)
            .unwrap_or_else(|| sa.is_nan().cmp(&sb.is_nan()))
            .then(a.cmp(&b))
    });
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if kept
            .iter()
            .all(|&k| boxes[k].iou(&boxes[i]) <= iou_threshold)
        {
            kept.push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_known_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        let c = BBox::new(20.0, 20.0, 30.0, 30.0);
        assert_eq!(a.iou(&c), 0.0);
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }

    #[test]
    fn scale_clip_square_expand() {
        let a = BBox::from_xywh(10.0, 20.0, 30.0, 40.0);
        assert_eq!(a.scale(2.0, 0.5), BBox::new(20.0, 10.0, 80.0, 30.0));
        assert_eq!(a.clip(25.0, 100.0), BBox::new(10.0, 20.0, 25.0, 60.0));
        let s = a.square();
        assert_eq!(s, BBox::new(5.0, 20.0, 45.0, 60.0));
        assert_eq!(s.expand(10.0), BBox::new(-5.0, 10.0, 55.0, 70.0));
        assert_eq!(a.center(), (25.0, 40.0));
        assert!(a.is_valid());
        assert!(!BBox::new(0.0, 0.0, f32::NAN, 1.0).is_valid());
        assert!(!BBox::new(5.0, 0.0, 5.0, 1.0).is_valid());
    }

    #[test]
    fn nms_keeps_best_of_overlapping() {
        let boxes = [
            BBox::new(0.0, 0.0, 10.0, 10.0),
            BBox::new(1.0, 1.0, 11.0, 11.0),
            BBox::new(50.0, 50.0, 60.0, 60.0),
            BBox::new(0.5, 0.0, 10.5, 10.0),
        ];
        let scores = [0.8, 0.9, 0.7, f32::NAN];
        assert_eq!(nms(&boxes, &scores, 0.3), vec![1, 2]);
        assert_eq!(nms(&boxes, &scores, 1.0), vec![1, 0, 2, 3]);
        assert!(nms(&[], &[], 0.3).is_empty());
    }
}
