// SPDX-License-Identifier: MPL-2.0
//! IoU tracker with optimal (Hungarian) assignment (pure, no model).
//!
//! On frames where the detector runs, [`Tracker::update`] matches detections to tracks by
//! maximising the total IoU (Kuhn–Munkres from the `pathfinding` crate on IoU × 10⁶ as integers);
//! pairs below [`TrackerConfig::iou_threshold`] are not matches. Unmatched detections start new
//! tracks with ids counting up from 1; a track is *confirmed* after [`TrackerConfig::min_hits`]
//! matched detections and dropped once it has gone more than [`TrackerConfig::max_age`] frames
//! without one. On frames without detection, [`Tracker::predict`] carries each box forward at its
//! estimated constant velocity (damped).
//!
//! Each track carries a caller-defined state `S` (the annotator keeps the expression smoother
//! there).

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use super::geometry::BBox;

/// Tracker parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Minimum IoU between a track's (predicted) box and a detection to match them.
    pub iou_threshold: f32,
    /// Matched detections (including the first) before a track is confirmed.
    pub min_hits: u32,
    /// Frames without a matched detection after which a track is dropped.
    pub max_age: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            iou_threshold: 0.3,
            min_hits: 2,
            max_age: 15,
        }
    }
}

/// One tracked face.
#[derive(Debug, Clone)]
pub struct Track<S> {
    id: u64,
    bbox: BBox,
    velocity: (f32, f32),
    hits: u32,
    frames_since_update: u32,
    frames_tracked: u64,
    matched_last_update: bool,
    /// Caller-defined per-track state.
    pub state: S,
}

impl<S> Track<S> {
    /// Stable id, from 1.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Current box (the last detection, or its prediction on frames without detection).
    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// Where the box is expected on the next frame: the current box moved by the estimated
    /// velocity (what [`Tracker::update`] matches detections against).
    pub fn predicted_bbox(&self) -> BBox {
        self.bbox.translate(self.velocity.0, self.velocity.1)
    }

    /// Frames since the last matched detection.
    pub fn frames_since_update(&self) -> u32 {
        self.frames_since_update
    }

    /// Frames since the track was created (1 on its first frame).
    pub fn frames_tracked(&self) -> u64 {
        self.frames_tracked
    }

    /// True when the track was matched by the most recent [`Tracker::update`].
    pub fn matched_last_update(&self) -> bool {
        self.matched_last_update
    }

    /// True once the track had enough hits.
    pub fn is_confirmed(&self, config: &TrackerConfig) -> bool {
        self.hits >= config.min_hits.max(1)
    }

    /// Confirmed and matched by the latest detector run: what an annotator should report.
    pub fn is_visible(&self, config: &TrackerConfig) -> bool {
        self.is_confirmed(config) && self.matched_last_update
    }
}

/// Multi-object IoU tracker.
#[derive(Debug, Clone)]
pub struct Tracker<S> {
    config: TrackerConfig,
    tracks: Vec<Track<S>>,
    next_id: u64,
}

/// Scale of the integer IoU weights given to Kuhn–Munkres.
const WEIGHT_SCALE: f32 = 1e6;
/// Damping of the velocity estimate (weight of the newest displacement).
const VELOCITY_GAIN: f32 = 0.5;

impl<S: Default> Tracker<S> {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Tracker<S> {
        Tracker {
            config,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Changes the configuration; live tracks are kept.
    pub fn set_config(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// All live tracks (confirmed or not), oldest first.
    pub fn tracks(&self) -> &[Track<S>] {
        &self.tracks
    }

    /// All live tracks, mutable (for their state).
    pub fn tracks_mut(&mut self) -> &mut [Track<S>] {
        &mut self.tracks
    }

    /// The track with this id.
    pub fn get(&self, id: u64) -> Option<&Track<S>> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// The track with this id, mutable.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Track<S>> {
        self.tracks.iter_mut().find(|t| t.id == id)
    }

    /// A frame without detection: moves every box by its velocity.
    pub fn predict(&mut self) {
        for t in &mut self.tracks {
            t.bbox = t.bbox.translate(t.velocity.0, t.velocity.1);
            t.frames_since_update += 1;
            t.frames_tracked += 1;
        }
    }

    /// A frame with detections: matches them to the tracks, starts tracks for the unmatched ones
    /// and drops tracks older than `max_age`. Returns, for each detection, the id of its track.
    /// Invalid boxes (NaN, empty) get id 0 and no track.
    pub fn update(&mut self, detections: &[BBox]) -> Vec<u64> {
        // Advance every track by one frame, predicting where it is now.
        for t in &mut self.tracks {
            t.bbox = t.bbox.translate(t.velocity.0, t.velocity.1);
            t.frames_since_update += 1;
            t.frames_tracked += 1;
            t.matched_last_update = false;
        }
        let mut ids = vec![0u64; detections.len()];
        let valid: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].is_valid())
            .collect();
        let pairs = self.assign(detections, &valid);
        let mut matched_det = vec![false; detections.len()];
        for (ti, di) in pairs {
            let det = detections[di];
            let t = &mut self.tracks[ti];
            let frames = t.frames_since_update.max(1) as f32;
            let (ox, oy) = t.bbox.center();
            let (nx, ny) = det.center();
            // t.bbox already includes the predicted motion: correct the velocity by the residual.
            let (rx, ry) = ((nx - ox) / frames, (ny - oy) / frames);
            t.velocity = (
                t.velocity.0 + VELOCITY_GAIN * rx,
                t.velocity.1 + VELOCITY_GAIN * ry,
            );
            t.bbox = det;
            t.hits += 1;
            t.frames_since_update = 0;
            t.matched_last_update = true;
            ids[di] = t.id;
            matched_det[di] = true;
        }
        let max_age = self.config.max_age;
        self.tracks.retain(|t| t.frames_since_update <= max_age);
        for &di in &valid {
            if !matched_det[di] {
                let id = self.next_id;
                self.next_id += 1;
                self.tracks.push(Track {
                    id,
                    bbox: detections[di],
                    velocity: (0.0, 0.0),
                    hits: 1,
                    frames_since_update: 0,
                    frames_tracked: 1,
                    matched_last_update: true,
                    state: S::default(),
                });
                ids[di] = id;
            }
        }
        ids
    }

    /// Optimal matching of tracks to the `valid` detections: `(track index, detection index)`.
    fn assign(&self, detections: &[BBox], valid: &[usize]) -> Vec<(usize, usize)> {
        let (nt, nd) = (self.tracks.len(), valid.len());
        if nt == 0 || nd == 0 {
            return Vec::new();
        }
        let weight = |ti: usize, vi: usize| -> i64 {
            (self.tracks[ti].bbox.iou(&detections[valid[vi]]) * WEIGHT_SCALE).round() as i64
        };
        // Kuhn–Munkres needs rows ≤ columns.
        let pairs: Vec<(usize, usize)> = if nt <= nd {
            let m = Matrix::from_fn(nt, nd, |(r, c)| weight(r, c));
            let (_, cols) = kuhn_munkres(&m);
            cols.into_iter().enumerate().collect()
        } else {
            let m = Matrix::from_fn(nd, nt, |(r, c)| weight(c, r));
            let (_, cols) = kuhn_munkres(&m);
            cols.into_iter().enumerate().map(|(d, t)| (t, d)).collect()
        };
        pairs
            .into_iter()
            .filter(|&(ti, vi)| {
                self.tracks[ti].bbox.iou(&detections[valid[vi]]) >= self.config.iou_threshold
            })
            .map(|(ti, vi)| (ti, valid[vi]))
            .collect()
    }

    /// Drops every track; ids start again from 1.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.next_id = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32) -> BBox {
        BBox::from_xywh(x, y, 40.0, 40.0)
    }

    #[test]
    fn ids_are_stable_and_confirmation_needs_hits() {
        let config = TrackerConfig {
            iou_threshold: 0.3,
            min_hits: 2,
            max_age: 2,
        };
        let mut t: Tracker<u32> = Tracker::new(config);
        assert_eq!(t.update(&[b(0.0, 0.0), b(100.0, 0.0)]), vec![1, 2]);
        assert!(t.tracks().iter().all(|tr| !tr.is_confirmed(&config)));
        // Same faces, listed in the other order and moved a little.
        assert_eq!(t.update(&[b(104.0, 2.0), b(4.0, 0.0)]), vec![2, 1]);
        assert!(t.tracks().iter().all(|tr| tr.is_visible(&config)));
        // A third face appears; face 2 is missed.
        assert_eq!(t.update(&[b(8.0, 0.0), b(300.0, 300.0)]), vec![1, 3]);
        let two = t.get(2).unwrap();
        assert!(!two.matched_last_update() && !two.is_visible(&config));
        assert_eq!(two.frames_since_update(), 1);
        // Face 2 comes back within max_age, at its predicted place.
        assert_eq!(t.update(&[b(116.0, 6.0)]), vec![2]);
        // Face 3 is gone for more than max_age frames → dropped; new ids keep counting.
        t.predict();
        t.predict();
        assert_eq!(t.update(&[b(500.0, 500.0)]), vec![4]);
        assert!(t.get(3).is_none());
        assert!(t.get(1).is_none());
        t.get_mut(4).unwrap().state = 7;
        assert_eq!(t.get(4).unwrap().state, 7);
        t.reset();
        assert!(t.tracks().is_empty());
        assert_eq!(t.update(&[b(0.0, 0.0)]), vec![1]);
    }

    #[test]
    fn hungarian_beats_greedy_and_handles_more_tracks_than_detections() {
        let mut t: Tracker<()> = Tracker::new(TrackerConfig::default());
        // Two tracks A (0..40) and B (30..70).
        t.update(&[
            BBox::new(0.0, 0.0, 40.0, 40.0),
            BBox::new(30.0, 0.0, 70.0, 40.0),
        ]);
        // d0 overlaps A best (0.60, B: 0.33); d1 overlaps A even more (0.95). Matching d0 first
        // would take A and leave d1 a new track; the optimum is A–d1, B–d0.
        let ids = t.update(&[
            BBox::new(10.0, 0.0, 50.0, 40.0),
            BBox::new(0.0, 0.0, 38.0, 40.0),
        ]);
        assert_eq!(ids, vec![2, 1]);
        // Three tracks, one detection (the Kuhn–Munkres matrix is transposed).
        assert_eq!(t.update(&[BBox::new(200.0, 0.0, 240.0, 40.0)]), vec![3]);
        assert_eq!(t.update(&[BBox::new(202.0, 0.0, 242.0, 40.0)]), vec![3]);
        assert_eq!(t.tracks().len(), 3);
        // Invalid detections get no track.
        assert_eq!(t.update(&[BBox::new(0.0, 0.0, f32::NAN, 1.0)]), vec![0]);
    }

    #[test]
    fn predict_carries_boxes_at_constant_velocity() {
        let mut t: Tracker<()> = Tracker::new(TrackerConfig::default());
        for i in 0..6 {
            t.update(&[b(10.0 * i as f32, 0.0)]);
        }
        t.predict();
        let (cx, _) = t.get(1).unwrap().bbox().center();
        // Last detection centre 70, velocity → 10 px/frame.
        assert!((cx - 80.0).abs() < 2.0, "{cx}");
        assert_eq!(t.get(1).unwrap().frames_tracked(), 7);
    }
}
