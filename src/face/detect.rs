// SPDX-License-Identifier: MPL-2.0
//! CenterFace face detector.
//!
//! The model (`centerface.onnx`, rewritten with a dynamic `[N, 3, H, W]` input: a batch of
//! images of one size runs at once) takes RGB planes
//! with raw 0–255 values, `H` and `W` multiples of 32, and predicts on a stride-4 grid:
//!
//! | output | shape | meaning |
//! |---|---|---|
//! | `537` | `[1, 1, H/4, W/4]` | face-centre heatmap, 0–1 |
//! | `538` | `[1, 2, H/4, W/4]` | log size: channel 0 height, 1 width; size = `exp(v) · 4` px |
//! | `539` | `[1, 2, H/4, W/4]` | centre offset in cells: channel 0 dy, 1 dx |
//! | `540` | `[1, 10, H/4, W/4]` | 5 landmarks as (y, x) pairs, in units of the box size, from its top-left |
//!
//! The frame is resized once (bilinear, see [`super::frame`]) so that its long side is
//! [`DetectorConfig::detection_size`] and each side a multiple of 32, without letterboxing; the
//! boxes are mapped back per axis. See [`decode`] for the decoding.

use std::path::Path;

use super::frame::{Channels, Frame, Region, TensorLayout, TensorSpec};
use super::geometry::{BBox, nms};
use crate::engine::{Cancel, RowsInput};
use crate::error::{Error, Result};
use crate::runtime::{ExecutionProvider, Model, SessionOptions};

/// Input tensor name.
pub const INPUT: &str = "input.1";
/// Heatmap output name.
pub const OUTPUT_HEATMAP: &str = "537";
/// Log-size output name.
pub const OUTPUT_SCALE: &str = "538";
/// Offset output name.
pub const OUTPUT_OFFSET: &str = "539";
/// Landmark output name.
pub const OUTPUT_LANDMARKS: &str = "540";
/// Output grid stride in input pixels.
pub const STRIDE: usize = 4;
/// Input sides must be multiples of this.
pub const SIZE_MULTIPLE: usize = 32;

/// Detection parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Long side of the image given to the model, in pixels (each side is then rounded to a
    /// multiple of 32). Cost grows with its square: 320 ≈ 7 ms, 640 ≈ 25 ms on 2 CPU threads.
    /// 0 uses the frame's own size.
    pub detection_size: u32,
    /// Minimum heatmap score of a face.
    pub threshold: f32,
    /// IoU above which the weaker of two overlapping detections is dropped.
    pub nms_threshold: f32,
    /// Faces whose shorter side (in frame pixels) is smaller are dropped.
    pub min_face_size: f32,
    /// At most this many faces, the highest scores first; 0 for no limit.
    pub max_faces: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            detection_size: 640,
            threshold: 0.5,
            nms_threshold: 0.3,
            min_face_size: 0.0,
            max_faces: 0,
        }
    }
}

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Face box.
    pub bbox: BBox,
    /// Heatmap score, 0–1.
    pub score: f32,
    /// Right eye, left eye, nose, right and left mouth corners (as seen in the image: the
    /// subject's right eye is usually on the left), `(x, y)`.
    pub landmarks: [(f32, f32); 5],
}

impl Detection {
    /// The detection moved by `(dx, dy)`.
    pub fn translate(&self, dx: f32, dy: f32) -> Detection {
        Detection {
            bbox: self.bbox.translate(dx, dy),
            score: self.score,
            landmarks: self.landmarks.map(|(x, y)| (x + dx, y + dy)),
        }
    }

    /// The detection with every x multiplied by `sx` and every y by `sy`.
    pub fn scale(&self, sx: f32, sy: f32) -> Detection {
        Detection {
            bbox: self.bbox.scale(sx, sy),
            score: self.score,
            landmarks: self.landmarks.map(|(x, y)| (x * sx, y * sy)),
        }
    }
}

/// The model input size `(width, height)` for a frame: the long side scaled to `detection_size`
/// (0: the frame's own size), each side rounded to the nearest multiple of 32, at least 32.
pub fn input_size(width: usize, height: usize, detection_size: u32) -> (usize, usize) {
    let long = width.max(height).max(1) as f64;
    let scale = if detection_size == 0 {
        1.0
    } else {
        f64::from(detection_size) / long
    };
    let round = |side: usize| {
        let n = (side as f64 * scale / SIZE_MULTIPLE as f64).round() as usize;
        n.max(1) * SIZE_MULTIPLE
    };
    (round(width), round(height))
}

/// Decodes CenterFace outputs on a `rows × cols` grid (planes in row-major order: `heat`
/// `[rows·cols]`, `scale` and `offset` `[2·rows·cols]`, `landmarks` `[10·rows·cols]`).
///
/// Every cell `(i, j)` with heat above `threshold` gives a face centred at
/// `((j + dx + 0.5) · 4, (i + dy + 0.5) · 4)` of size `exp(log size) · 4`, clipped to the
/// `4·cols × 4·rows` input; landmark `k` is at `(x1 + lm[2k+1] · w, y1 + lm[2k] · h)` from the
/// unclipped box's top-left corner `(x1, y1)` and size `(w, h)`. Score = heat. Results are in input
/// pixels, in grid order, before NMS.
pub fn decode(
    heat: &[f32],
    scale: &[f32],
    offset: &[f32],
    landmarks: &[f32],
    dims: (usize, usize),
    threshold: f32,
) -> Result<Vec<Detection>> {
    let (rows, cols) = dims;
    let n = rows * cols;
    for (name, data, channels) in [
        ("heatmap", heat, 1),
        ("scale", scale, 2),
        ("offset", offset, 2),
        ("landmarks", landmarks, 10),
    ] {
        if data.len() != channels * n {
            return Err(Error::inference(format!(
                "detector {name} has {} values, {} expected for a {rows}x{cols} grid",
                data.len(),
                channels * n
            )));
        }
    }
    let (img_w, img_h) = ((cols * STRIDE) as f32, (rows * STRIDE) as f32);
    let stride = STRIDE as f32;
    let mut out = Vec::new();
    for (cell, &score) in heat.iter().enumerate() {
        if score.is_nan() || score <= threshold {
            continue;
        }
        let (i, j) = (cell / cols, cell % cols);
        let h = scale[cell].exp() * stride;
        let w = scale[n + cell].exp() * stride;
        let cy = (i as f32 + offset[cell] + 0.5) * stride;
        let cx = (j as f32 + offset[n + cell] + 0.5) * stride;
        let full = BBox::from_center(cx, cy, w, h);
        let bbox = full.clip(img_w, img_h);
        if !bbox.is_valid() {
            continue;
        }
        let mut lms = [(0.0, 0.0); 5];
        for (k, lm) in lms.iter_mut().enumerate() {
            let ly = landmarks[2 * k * n + cell];
            let lx = landmarks[(2 * k + 1) * n + cell];
            *lm = (full.x1 + lx * w, full.y1 + ly * h);
        }
        out.push(Detection {
            bbox,
            score,
            landmarks: lms,
        });
    }
    Ok(out)
}

/// Keeps the best of overlapping detections ([`nms`]), best first.
pub fn suppress(detections: &[Detection], iou_threshold: f32) -> Vec<Detection> {
    let boxes: Vec<BBox> = detections.iter().map(|d| d.bbox).collect();
    let scores: Vec<f32> = detections.iter().map(|d| d.score).collect();
    nms(&boxes, &scores, iou_threshold)
        .into_iter()
        .map(|i| detections[i])
        .collect()
}

/// A loaded CenterFace model.
#[derive(Debug)]
pub struct FaceDetector {
    model: Model,
    /// `(width, height)` when the model's input size is fixed.
    fixed_size: Option<(usize, usize)>,
    /// True when the model's batch dimension is fixed at 1: regions then run one at a time.
    single: bool,
    input: Vec<f32>,
}

impl FaceDetector {
    /// Loads the model and checks that it has CenterFace's input and outputs.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<FaceDetector> {
        let model = Model::load(path, options)?;
        model.require_io(
            &[INPUT],
            &[
                OUTPUT_HEATMAP,
                OUTPUT_SCALE,
                OUTPUT_OFFSET,
                OUTPUT_LANDMARKS,
            ],
        )?;
        let mut fixed_size = None;
        let single;
        let shape = model.inspect(|session| {
            session
                .inputs()
                .iter()
                .find(|o| o.name() == INPUT)
                .and_then(|o| o.dtype().tensor_shape().map(|s| s.to_vec()))
        })?;
        match shape.as_deref() {
            Some([n, c, h, w]) if *c == 3 || *c < 0 => {
                single = *n == 1;
                if *h > 0 && *w > 0 {
                    let (h, w) = (*h as usize, *w as usize);
                    if !h.is_multiple_of(SIZE_MULTIPLE) || !w.is_multiple_of(SIZE_MULTIPLE) {
                        return Err(Error::model(
                            path,
                            format!("fixed input size {w}x{h} is not a multiple of 32"),
                        ));
                    }
                    tracing::info!(width = w, height = h, "detector has a fixed input size");
                    fixed_size = Some((w, h));
                }
            }
            other => {
                return Err(Error::model(
                    path,
                    format!("input {INPUT:?} has shape {other:?}, expected [1, 3, H, W]"),
                ));
            }
        }
        Ok(FaceDetector {
            model,
            fixed_size,
            single,
            input: Vec::new(),
        })
    }

    /// The execution provider in use.
    pub fn provider(&self) -> ExecutionProvider {
        self.model.provider()
    }

    /// The latency cross-stream batching adds to this detector's runs.
    pub fn batch_latency(&self) -> std::time::Duration {
        self.model.batch_latency()
    }

    /// Makes `cancel` cancel this detector's runs.
    pub fn set_cancel(&mut self, cancel: &Cancel) {
        self.model.set_cancel(cancel);
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        self.model.path()
    }

    /// The model input size `(width, height)` used for a frame of this size.
    pub fn input_size_for(
        &self,
        width: usize,
        height: usize,
        config: &DetectorConfig,
    ) -> (usize, usize) {
        self.fixed_size
            .unwrap_or_else(|| input_size(width, height, config.detection_size))
    }

    /// Detects faces; boxes and landmarks are in frame pixels, best score first.
    pub fn detect(&mut self, frame: &Frame<'_>, config: &DetectorConfig) -> Result<Vec<Detection>> {
        let (w, h) = self.input_size_for(frame.width(), frame.height(), config);
        let mut faces = self
            .detect_in(frame, &[Region::full(frame)], (w, h), config)?
            .pop()
            .unwrap_or_default();
        if config.max_faces > 0 {
            faces.truncate(config.max_faces);
        }
        Ok(faces)
    }

    /// Detects faces in each of `regions` (which may extend past the frame: black there), each
    /// resampled to `size` `(width, height)` (multiples of 32; a fixed-size model uses its own),
    /// in one batched run. For each region: faces in frame pixels (clipped to the frame), best
    /// score first, after NMS and `min_face_size` (`max_faces` does not apply).
    pub fn detect_regions(
        &mut self,
        frame: &Frame<'_>,
        regions: &[Region],
        size: (usize, usize),
        config: &DetectorConfig,
    ) -> Result<Vec<Vec<Detection>>> {
        let size = self.fixed_size.unwrap_or(size);
        if regions.is_empty() {
            return Ok(Vec::new());
        }
        if size.0 == 0
            || size.1 == 0
            || !size.0.is_multiple_of(SIZE_MULTIPLE)
            || !size.1.is_multiple_of(SIZE_MULTIPLE)
        {
            return Err(Error::InvalidInput(format!(
                "detector input {}x{} is not a multiple of {SIZE_MULTIPLE}",
                size.0, size.1
            )));
        }
        if self.single {
            let mut all = Vec::with_capacity(regions.len());
            for region in regions {
                all.extend(self.detect_in(frame, std::slice::from_ref(region), size, config)?);
            }
            return Ok(all);
        }
        self.detect_in(frame, regions, size, config)
    }

    /// One run on a batch of `regions`, each resampled to `(w, h)`.
    fn detect_in(
        &mut self,
        frame: &Frame<'_>,
        regions: &[Region],
        (w, h): (usize, usize),
        config: &DetectorConfig,
    ) -> Result<Vec<Vec<Detection>>> {
        let spec = TensorSpec {
            width: w,
            height: h,
            channels: Channels::Rgb,
            layout: TensorLayout::Nchw,
            scale: 1.0,
            offset: 0.0,
        };
        let n = regions.len();
        let started = std::time::Instant::now();
        self.input.resize(spec.len() * n, 0.0);
        for (region, out) in regions.iter().zip(self.input.chunks_exact_mut(spec.len())) {
            frame.write_tensor(*region, &spec, out)?;
        }
        let prepared = started.elapsed();
        let (rows, cols) = (h / STRIDE, w / STRIDE);
        let cells = rows * cols;
        let outputs = self.model.run_rows(
            RowsInput {
                name: INPUT,
                shape: &[n, 3, h, w],
                data: &self.input,
            },
            &[
                OUTPUT_HEATMAP,
                OUTPUT_SCALE,
                OUTPUT_OFFSET,
                OUTPUT_LANDMARKS,
            ],
        )?;
        let inferred = started.elapsed() - prepared;
        let get = |name: &str, channels: i64| -> Result<&[f32]> {
            let (shape, data) = outputs
                .get(name)
                .ok_or_else(|| Error::inference(format!("detector output {name:?} missing")))?;
            if shape[..] != [n as i64, channels, rows as i64, cols as i64] {
                return Err(Error::inference(format!(
                    "detector output {name:?} has shape {shape:?}, expected [{n}, {channels}, {rows}, {cols}]"
                )));
            }
            Ok(data)
        };
        let (heat, scale, offset, landmarks) = (
            get(OUTPUT_HEATMAP, 1)?,
            get(OUTPUT_SCALE, 2)?,
            get(OUTPUT_OFFSET, 2)?,
            get(OUTPUT_LANDMARKS, 10)?,
        );
        let raw = (0..n)
            .map(|i| {
                decode(
                    &heat[i * cells..(i + 1) * cells],
                    &scale[2 * i * cells..2 * (i + 1) * cells],
                    &offset[2 * i * cells..2 * (i + 1) * cells],
                    &landmarks[10 * i * cells..10 * (i + 1) * cells],
                    (rows, cols),
                    config.threshold,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let faces: Vec<Vec<Detection>> = raw
            .iter()
            .zip(regions)
            .map(|(raw, region)| {
                let (sx, sy) = (
                    region.width as f32 / w as f32,
                    region.height as f32 / h as f32,
                );
                let (ox, oy) = (region.x as f32, region.y as f32);
                suppress(raw, config.nms_threshold)
                    .into_iter()
                    .map(|d| {
                        let mut d = d.scale(sx, sy).translate(ox, oy);
                        d.bbox = d.bbox.clip(fw, fh);
                        d
                    })
                    .filter(|d| {
                        d.bbox.is_valid()
                            && d.bbox.width().min(d.bbox.height()) >= config.min_face_size
                    })
                    .collect()
            })
            .collect();
        tracing::trace!(
            regions = n,
            candidates = raw.iter().map(Vec::len).sum::<usize>(),
            faces = faces.iter().map(Vec::len).sum::<usize>(),
            w,
            h,
            prepare_us = prepared.as_micros() as u64,
            infer_us = inferred.as_micros() as u64,
            total_us = started.elapsed().as_micros() as u64,
            "detected"
        );
        Ok(faces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sizes_are_multiples_of_32() {
        assert_eq!(input_size(640, 480, 640), (640, 480));
        assert_eq!(input_size(640, 480, 320), (320, 256));
        assert_eq!(input_size(1280, 720, 320), (320, 192));
        assert_eq!(input_size(640, 360, 640), (640, 352));
        assert_eq!(input_size(360, 640, 320), (192, 320));
        assert_eq!(input_size(100, 10, 0), (96, 32));
    }

    /// A 4x6 grid with two faces.
    #[test]
    fn decode_synthetic_tensors() {
        let (rows, cols) = (4, 6);
        let n = rows * cols;
        let mut heat = vec![0.1; n];
        let mut scale = vec![0.0; 2 * n];
        let mut offset = vec![0.0; 2 * n];
        let mut lm = vec![0.0; 10 * n];
        // Face A at cell (1, 2): 16 px tall (ln 4), 8 px wide (ln 2), offset dy 0.25, dx -0.5.
        let a = 6 + 2;
        heat[a] = 0.9;
        scale[a] = 4f32.ln();
        scale[n + a] = 2f32.ln();
        offset[a] = 0.25;
        offset[n + a] = -0.5;
        for k in 0..5 {
            lm[2 * k * n + a] = 0.1 * k as f32; // y
            lm[(2 * k + 1) * n + a] = 0.5; // x
        }
        // Face B at cell (0, 0), large: clipped to the 24x16 input.
        let b = 0;
        heat[b] = 0.6;
        scale[b] = 8f32.ln();
        scale[n + b] = 8f32.ln();
        // Below threshold.
        heat[n - 1] = 0.5;
        let dets = decode(&heat, &scale, &offset, &lm, (rows, cols), 0.5).unwrap();
        assert_eq!(dets.len(), 2);
        let (db, da) = (dets[0], dets[1]);
        // A: centre ((2 - 0.5 + 0.5) * 4, (1 + 0.25 + 0.5) * 4) = (8, 7); size 8 x 16.
        assert_eq!(da.bbox, BBox::new(4.0, 0.0, 12.0, 15.0));
        assert_eq!(da.score, 0.9);
        for k in 0..5 {
            let (x, y) = da.landmarks[k];
            assert!((x - 8.0).abs() < 1e-5);
            assert!((y - (-1.0 + 0.1 * k as f32 * 16.0)).abs() < 1e-5);
        }
        // B: centre (2, 2), 32 x 32 → clipped.
        assert_eq!(db.bbox, BBox::new(0.0, 0.0, 18.0, 16.0));
        // NMS (B overlaps A with IoU 0.42) and scaling.
        assert_eq!(suppress(&[db, da, da], 0.3), vec![da]);
        assert_eq!(suppress(&[db, da], 0.5), vec![da, db]);
        assert_eq!(da.scale(2.0, 0.5).landmarks[0], (16.0, -0.5));
        // Wrong sizes are errors, not panics.
        assert!(decode(&heat, &scale, &offset, &lm[1..], (rows, cols), 0.5).is_err());
        assert!(decode(&heat, &scale, &offset, &lm, (rows, cols + 1), 0.5).is_err());
    }
}
