// SPDX-License-Identifier: MPL-2.0
//! Detection around tracked faces (`DetectionMode::Roi`): the crop geometry and the choice of a
//! track's detection in its crop (pure, no model).
//!
//! For each track the detector sees a square [`crop_region`] of the frame centred on the track's
//! predicted box (after a crop frame: the crop's own box, moved as the track moves), [`CROP_CONTEXT`] times its longer side, taken at the frame's native resolution
//! and resampled to [`CROP_INPUT`] × [`CROP_INPUT`] (the face then spans about
//! `CROP_INPUT / CROP_CONTEXT` = 64 detector pixels, whatever its size in the frame: CenterFace's
//! best range). All crops of a frame have that size, so they run as one batch. [`pick`] takes the
//! track's detection from its crop's faces and says when it cannot be trusted.

use super::detect::{Detection, SIZE_MULTIPLE};
use super::frame::Region;
use super::geometry::BBox;

/// Side of a crop / longer side of the tracked face.
pub const CROP_CONTEXT: f32 = 2.0;
/// Side of the detector input a crop is resampled to (a multiple of 32). Measured over the sample
/// clips against whole-frame detection (`tests/face_models.rs`, before calibration): 128, 160 and
/// 192 agree alike (raw labels on the long clip 449, 452 and 451 of 471 frames; box IoU median
/// 0.91, 0.88, 0.92), and 128 costs two thirds of 160.
pub const CROP_INPUT: usize = 128;
/// A detection whose IoU with the predicted box is below this is *uncertain* (the face moved or
/// changed size more than the tracker expected).
pub const MIN_CERTAIN_IOU: f32 = 0.5;

/// The square crop around a (predicted) face box: centred on it, [`CROP_CONTEXT`] × its longer
/// side (at least [`SIZE_MULTIPLE`] pixels), in integer frame pixels; it may extend past the
/// frame (read as black).
pub fn crop_region(bbox: &BBox) -> Region {
    let (cx, cy) = bbox.center();
    let side = (bbox.width().max(bbox.height()) * CROP_CONTEXT)
        .round()
        .max(SIZE_MULTIPLE as f32);
    Region {
        x: (cx - side / 2.0).round() as i64,
        y: (cy - side / 2.0).round() as i64,
        width: side as usize,
        height: side as usize,
    }
}

/// How a whole-frame box relates to the crop's box of the same face on the same frame: the
/// offsets of its four edges in units of the crop box's width and height. The detector draws a
/// face a little differently at the two scales; calibrated crop boxes ([`calibrate`]) stay in
/// step with the whole-frame boxes between scans, so neither the boxes nor the classifier's
/// input jump at each scan.
pub fn calibration(crop: &BBox, full: &BBox) -> [f32; 4] {
    let (w, h) = (crop.width().max(1.0), crop.height().max(1.0));
    [
        (full.x1 - crop.x1) / w,
        (full.y1 - crop.y1) / h,
        (full.x2 - crop.x2) / w,
        (full.y2 - crop.y2) / h,
    ]
}

/// A crop's face with its box moved by a [`calibration`] (clipped to the `frame`); the score and
/// landmarks stay as found.
pub fn calibrate(face: &Detection, calibration: &[f32; 4], frame: (f32, f32)) -> Detection {
    let b = face.bbox;
    let (w, h) = (b.width(), b.height());
    let [a, c, d, e] = *calibration;
    let bbox =
        BBox::new(b.x1 + a * w, b.y1 + c * h, b.x2 + d * w, b.y2 + e * h).clip(frame.0, frame.1);
    Detection {
        bbox: if bbox.is_valid() { bbox } else { b },
        ..*face
    }
}

/// How a track's crop went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    /// The track's face, trusted.
    Found(Detection),
    /// A face overlaps the predicted box, but it moved or changed size more than expected, or it
    /// touches an edge of the crop that is inside the frame (the crop may cut it).
    Uncertain(Detection),
    /// No face in the crop overlaps the predicted box by `min_iou`.
    Lost,
}

/// The track's detection among its crop's `faces` (frame pixels): of those whose IoU with
/// `predicted` is at least `min_iou`, the one with the highest IoU.
/// `frame` is the frame's `(width, height)`; `cell` the size of one detector grid cell in frame
/// pixels (how close to the crop's edge counts as touching it).
pub fn pick(
    faces: &[Detection],
    predicted: &BBox,
    region: &Region,
    frame: (f32, f32),
    cell: f32,
    min_iou: f32,
) -> Pick {
    let best = faces
        .iter()
        .map(|d| (d.bbox.iou(predicted), d))
        .filter(|(iou, _)| *iou >= min_iou)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((iou, &face)) = best else {
        return Pick::Lost;
    };
    let (x1, y1) = (region.x as f32, region.y as f32);
    let (x2, y2) = (x1 + region.width as f32, y1 + region.height as f32);
    let b = face.bbox;
    // An edge of the crop that is not the frame's edge, and the face reaching it.
    let cut = (x1 > 0.0 && b.x1 - x1 < cell)
        || (y1 > 0.0 && b.y1 - y1 < cell)
        || (x2 < frame.0 && x2 - b.x2 < cell)
        || (y2 < frame.1 && y2 - b.y2 < cell);
    if cut || iou < MIN_CERTAIN_IOU.max(min_iou) {
        Pick::Uncertain(face)
    } else {
        Pick::Found(face)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: BBox) -> Detection {
        Detection {
            bbox,
            score: 0.9,
            landmarks: [(0.0, 0.0); 5],
        }
    }

    #[test]
    fn crops_are_squares_around_the_face() {
        let r = crop_region(&BBox::new(100.0, 50.0, 140.0, 110.0));
        // Centre (120, 80), longer side 60 → 120.
        assert_eq!(
            r,
            Region {
                x: 60,
                y: 20,
                width: 120,
                height: 120
            }
        );
        // Tiny faces still get a 32 px crop; crops may leave the frame.
        let r = crop_region(&BBox::new(-4.0, -4.0, 4.0, 4.0));
        assert_eq!((r.x, r.y, r.width, r.height), (-16, -16, 32, 32));
    }

    #[test]
    fn calibration_maps_the_crop_box_onto_the_full_box() {
        let crop = BBox::new(100.0, 100.0, 140.0, 160.0);
        let full = BBox::new(96.0, 106.0, 140.0, 157.0);
        let c = calibration(&crop, &full);
        assert_eq!(c, [-0.1, 0.1, 0.0, -0.05]);
        assert_eq!(calibrate(&det(crop), &c, (640.0, 360.0)).bbox, full);
        // The same calibration on the face moved and grown.
        let later = calibrate(
            &det(BBox::new(200.0, 0.0, 280.0, 120.0)),
            &c,
            (640.0, 360.0),
        );
        assert_eq!(later.bbox, BBox::new(192.0, 12.0, 280.0, 114.0));
    }

    #[test]
    fn pick_prefers_the_tracked_face_and_flags_doubt() {
        let predicted = BBox::new(100.0, 100.0, 150.0, 150.0);
        let region = crop_region(&predicted); // 75..175
        let frame = (640.0, 360.0);
        let same = det(BBox::new(102.0, 101.0, 152.0, 151.0));
        let neighbour = det(BBox::new(120.0, 100.0, 165.0, 150.0));
        assert_eq!(
            pick(&[neighbour, same], &predicted, &region, frame, 2.0, 0.3),
            Pick::Found(same)
        );
        // Only the neighbour overlaps (IoU 0.46): uncertain.
        assert!(matches!(
            pick(&[neighbour], &predicted, &region, frame, 2.0, 0.3),
            Pick::Uncertain(_)
        ));
        // Nothing near the predicted box.
        let far = det(BBox::new(76.0, 76.0, 90.0, 90.0));
        assert_eq!(
            pick(&[far], &predicted, &region, frame, 2.0, 0.3),
            Pick::Lost
        );
        assert_eq!(pick(&[], &predicted, &region, frame, 2.0, 0.3), Pick::Lost);
        // A face at the crop's edge is cut by the crop, unless that edge is the frame's.
        let at_edge = BBox::new(0.0, 100.0, 50.0, 150.0);
        let region = crop_region(&at_edge); // -25..75
        assert_eq!(
            pick(&[det(at_edge)], &at_edge, &region, frame, 2.0, 0.3),
            Pick::Found(det(at_edge))
        );
        let wide = det(BBox::new(0.0, 100.0, 74.0, 150.0));
        assert!(matches!(
            pick(&[wide], &at_edge, &region, frame, 2.0, 0.3),
            Pick::Uncertain(_)
        ));
    }
}
