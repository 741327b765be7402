// SPDX-License-Identifier: MPL-2.0
//! Facial-expression classifier described by a JSON [`Descriptor`].
//!
//! The descriptor says how to crop and normalise a face and how to read the output, so another
//! classifier can be swapped in. By default it is beside the model, named after the model's file
//! name with `.json` appended (`emotion-mini-xception.onnx.json`; the rule of [`crate::assets`]):
//!
//! ```json
//! { "name": "mini-Xception (FER2013)",
//!   "input": { "name": "input", "width": 64, "height": 64, "color": "gray", "layout": "nchw",
//!              "scale": 0.00784313725490196, "offset": -1.0 },
//!   "crop": { "square": true, "margin_px": 10 },
//!   "output": { "name": "probabilities", "softmax": false },
//!   "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"] }
//! ```
//!
//! Preprocessing ([`crop_region`], [`crop_tensor`]): the face box is made square on its longer
//! side around the same centre (when `crop.square`), grown by `margin_px` on each side, and its
//! corners rounded to whole pixels; that region (black outside the frame) is resized to
//! `width × height` with half-pixel bilinear interpolation in the requested colour (see
//! [`super::frame`]), and each value becomes `pixel · scale + offset`. All faces of a frame run as
//! one batch.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::frame::{Channels, Frame, Region, TensorLayout, TensorSpec};
use super::geometry::BBox;
use crate::engine::{Cancel, RowsInput};
use crate::error::{Error, Result};
use crate::runtime::{ExecutionProvider, Model, SessionOptions};

/// How the model wants its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDescriptor {
    /// Input tensor name.
    pub name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `gray`, `rgb` or `bgr`.
    pub color: Channels,
    /// `nchw` (default) or `nhwc`.
    #[serde(default)]
    pub layout: TensorLayout,
    /// Multiplier of the 0–255 pixel value.
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
}

/// How to cut a face out of the frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CropDescriptor {
    /// Make the box square on its longer side first.
    #[serde(default)]
    pub square: bool,
    /// Pixels added on each side (after squaring).
    #[serde(default)]
    pub margin_px: f32,
}

/// How to read the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDescriptor {
    /// Output tensor name; shape `[N, labels.len()]`.
    pub name: String,
    /// Apply a softmax (the output is logits).
    #[serde(default)]
    pub softmax: bool,
}

/// An expression model's descriptor (the JSON file beside the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Human-readable model name.
    #[serde(default)]
    pub name: String,
    /// Input.
    pub input: InputDescriptor,
    /// Crop.
    #[serde(default)]
    pub crop: CropDescriptor,
    /// Output.
    pub output: OutputDescriptor,
    /// Class names, in output order.
    pub labels: Vec<String>,
}

impl Descriptor {
    /// Reads and validates a descriptor file.
    pub fn from_file(path: &Path) -> Result<Descriptor> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::config(path, e))?;
        Descriptor::from_json(&text).map_err(|reason| Error::config(path, reason))
    }

    /// Parses and validates descriptor JSON; the error is a reason without the path.
    pub fn from_json(text: &str) -> std::result::Result<Descriptor, String> {
        let d: Descriptor = serde_json::from_str(text).map_err(|e| e.to_string())?;
        d.validate()?;
        Ok(d)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let i = &self.input;
        if i.width == 0 || i.height == 0 || i.width > 4096 || i.height > 4096 {
            return Err(format!("input size {}x{} out of range", i.width, i.height));
        }
        if !i.scale.is_finite() || !i.offset.is_finite() || !self.crop.margin_px.is_finite() {
            return Err("scale, offset and margin_px must be finite numbers".into());
        }
        if self.labels.is_empty() {
            return Err("no labels".into());
        }
        Ok(())
    }

    /// The tensor layout of one face.
    pub fn tensor_spec(&self) -> TensorSpec {
        TensorSpec {
            width: self.input.width,
            height: self.input.height,
            channels: self.input.color,
            layout: self.input.layout,
            scale: self.input.scale,
            offset: self.input.offset,
        }
    }

    /// Shape of a batch of `n` faces.
    pub fn batch_shape(&self, n: usize) -> [usize; 4] {
        let (c, h, w) = (
            self.input.color.count(),
            self.input.height,
            self.input.width,
        );
        match self.input.layout {
            TensorLayout::Nchw => [n, c, h, w],
            TensorLayout::Nhwc => [n, h, w, c],
        }
    }
}

/// The integer frame region read for a face (see the module docs):
/// `b = square(bbox)` (if `crop.square`), grown by `margin_px`, then
/// `x = floor(b.x1 + 0.5)`, `y = floor(b.y1 + 0.5)`, `width = max(1, floor(b.width + 0.5))`,
/// `height = max(1, floor(b.height + 0.5))`.
pub fn crop_region(bbox: &BBox, crop: &CropDescriptor) -> Region {
    let b = if crop.square { bbox.square() } else { *bbox };
    let b = b.expand(crop.margin_px);
    let round = |v: f32| (v + 0.5).floor();
    Region {
        x: round(b.x1) as i64,
        y: round(b.y1) as i64,
        width: (round(b.width()) as usize).max(1),
        height: (round(b.height()) as usize).max(1),
    }
}

/// The classifier input of one face (`descriptor.tensor_spec().len()` values).
pub fn crop_tensor(frame: &Frame<'_>, bbox: &BBox, descriptor: &Descriptor) -> Result<Vec<f32>> {
    let spec = descriptor.tensor_spec();
    let mut out = vec![0.0; spec.len()];
    write_crop(frame, bbox, descriptor, &spec, &mut out)?;
    Ok(out)
}

fn write_crop(
    frame: &Frame<'_>,
    bbox: &BBox,
    descriptor: &Descriptor,
    spec: &TensorSpec,
    out: &mut [f32],
) -> Result<()> {
    if !bbox.is_valid() {
        return Err(Error::InvalidInput(format!("invalid face box {bbox:?}")));
    }
    frame.write_tensor(crop_region(bbox, &descriptor.crop), spec, out)
}

/// In-place softmax.
pub fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        total += *v;
    }
    if total > 0.0 {
        for v in values.iter_mut() {
            *v /= total;
        }
    }
}

/// A loaded expression classifier.
#[derive(Debug)]
pub struct ExpressionClassifier {
    model: Model,
    descriptor: Descriptor,
    /// The model's batch dimension is fixed to 1: run faces one by one.
    single: bool,
    input: Vec<f32>,
}

impl ExpressionClassifier {
    /// Loads the model and its descriptor (`None`: the one beside the model,
    /// [`descriptor_beside`](crate::assets::descriptor_beside)) and checks that they agree.
    pub fn load(
        model_path: &Path,
        descriptor_path: Option<&Path>,
        options: &SessionOptions,
    ) -> Result<ExpressionClassifier> {
        let (descriptor, descriptor_path) = crate::assets::read_descriptor(
            model_path,
            descriptor_path,
            "classifier descriptor",
            Descriptor::from_file,
        )?;
        let model = Model::load(model_path, options)?;
        model.require_io(&[&descriptor.input.name], &[&descriptor.output.name])?;
        let shape_of = |outlets: &[ort::value::Outlet], name: &str| {
            outlets
                .iter()
                .find(|o| o.name() == name)
                .and_then(|o| o.dtype().tensor_shape().map(|s| s.to_vec()))
        };
        let (input_shape, output_shape) = model.inspect(|session| {
            (
                shape_of(session.inputs(), &descriptor.input.name),
                shape_of(session.outputs(), &descriptor.output.name),
            )
        })?;
        let mismatch = |what: String| {
            Error::model(
                model_path,
                format!(
                    "does not match its descriptor {}: {what}",
                    descriptor_path.display()
                ),
            )
        };
        let expected = descriptor.batch_shape(1);
        let single = match input_shape.as_deref() {
            Some(dims) if dims.len() == 4 => {
                for (axis, (&got, &want)) in dims.iter().zip(&expected).enumerate().skip(1) {
                    if got > 0 && got as usize != want {
                        return Err(mismatch(format!(
                            "input shape {dims:?}, descriptor wants {expected:?} (axis {axis})"
                        )));
                    }
                }
                dims[0] == 1
            }
            other => {
                return Err(mismatch(format!(
                    "input {:?} has shape {other:?}, expected rank 4",
                    descriptor.input.name
                )));
            }
        };
        match output_shape.as_deref() {
            Some([_, k]) if *k < 0 || *k as usize == descriptor.labels.len() => {}
            other => {
                return Err(mismatch(format!(
                    "output {:?} has shape {other:?}, expected [N, {}]",
                    descriptor.output.name,
                    descriptor.labels.len()
                )));
            }
        }
        tracing::info!(
            model = %model_path.display(),
            name = %descriptor.name,
            labels = descriptor.labels.len(),
            single,
            "expression classifier ready"
        );
        Ok(ExpressionClassifier {
            model,
            descriptor,
            single,
            input: Vec::new(),
        })
    }

    /// Class names, in output order.
    pub fn labels(&self) -> &[String] {
        &self.descriptor.labels
    }

    /// The descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The execution provider in use.
    pub fn provider(&self) -> ExecutionProvider {
        self.model.provider()
    }

    /// The latency cross-stream batching adds to this classifier's runs.
    pub fn batch_latency(&self) -> std::time::Duration {
        self.model.batch_latency()
    }

    /// Makes `cancel` cancel this classifier's runs.
    pub fn set_cancel(&mut self, cancel: &Cancel) {
        self.model.set_cancel(cancel);
    }

    /// Class probabilities for each face box (frame pixels), in one batched run.
    pub fn classify(&mut self, frame: &Frame<'_>, boxes: &[BBox]) -> Result<Vec<Vec<f32>>> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let spec = self.descriptor.tensor_spec();
        let per_face = spec.len();
        self.input.resize(per_face * boxes.len(), 0.0);
        for (bbox, out) in boxes.iter().zip(self.input.chunks_exact_mut(per_face)) {
            write_crop(frame, bbox, &self.descriptor, &spec, out)?;
        }
        if self.single {
            let mut all = Vec::with_capacity(boxes.len());
            for i in 0..boxes.len() {
                all.extend(self.run(i * per_face, 1)?);
            }
            Ok(all)
        } else {
            self.run(0, boxes.len())
        }
    }

    /// Runs `n` faces of the input buffer starting at value `start`.
    fn run(&mut self, start: usize, n: usize) -> Result<Vec<Vec<f32>>> {
        let per_face = self.descriptor.tensor_spec().len();
        let descriptor = &self.descriptor;
        let name = descriptor.output.name.as_str();
        let outputs = self.model.run_rows(
            RowsInput {
                name: &descriptor.input.name,
                shape: &descriptor.batch_shape(n),
                data: &self.input[start..start + n * per_face],
            },
            &[name],
        )?;
        let k = descriptor.labels.len();
        let (shape, probs) = outputs
            .get(name)
            .ok_or_else(|| Error::inference(format!("classifier output {name:?} missing")))?;
        if shape[..] != [n as i64, k as i64] {
            return Err(Error::inference(format!(
                "classifier output {name:?} has shape {shape:?}, expected [{n}, {k}]"
            )));
        }
        Ok(probs
            .chunks_exact(k)
            .map(|row| {
                let mut row = row.to_vec();
                if descriptor.output.softmax {
                    softmax(&mut row);
                }
                row
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::frame::PixelFormat;

    const JSON: &str = r#"{ "name": "m", "input": { "name": "input", "width": 4, "height": 4,
        "color": "gray", "layout": "nchw", "scale": 0.00784313725490196, "offset": -1.0 },
        "crop": { "square": true, "margin_px": 10 }, "output": { "name": "p", "softmax": false },
        "labels": ["a", "b"] }"#;

    #[test]
    fn descriptor_parses_and_validates() {
        let d = Descriptor::from_json(JSON).unwrap();
        assert_eq!(d.input.color, Channels::Gray);
        assert_eq!(d.crop.margin_px, 10.0);
        assert_eq!(d.batch_shape(3), [3, 1, 4, 4]);
        let rgb = JSON.replace("gray", "rgb").replace("nchw", "nhwc");
        assert_eq!(
            Descriptor::from_json(&rgb).unwrap().batch_shape(2),
            [2, 4, 4, 3]
        );
        assert!(Descriptor::from_json(&JSON.replace("gray", "cmyk")).is_err());
        assert!(Descriptor::from_json(&JSON.replace("\"a\", \"b\"", "")).is_err());
        assert!(Descriptor::from_json(&JSON.replace("\"width\": 4", "\"width\": 0")).is_err());
        assert!(Descriptor::from_json("{").is_err());
    }

    #[test]
    fn crop_region_is_square_with_margin() {
        let crop = CropDescriptor {
            square: true,
            margin_px: 10.0,
        };
        // 31 x 40 box: side 40 around centre (25.5, 40) → x1 5.5, grown → -4.5 → rounds to -4.
        let r = crop_region(&BBox::new(10.0, 20.0, 41.0, 60.0), &crop);
        assert_eq!(
            r,
            Region {
                x: -4,
                y: 10,
                width: 60,
                height: 60
            }
        );
        let plain = crop_region(&BBox::new(1.2, 2.6, 5.0, 9.0), &CropDescriptor::default());
        assert_eq!(
            plain,
            Region {
                x: 1,
                y: 3,
                width: 4,
                height: 6
            }
        );
    }

    #[test]
    fn crop_tensor_normalises_and_pads() {
        // White 8x8 frame; a 2x2 box at the corner with no margin → all 1.0; with margin part black.
        let data = vec![255u8; 8 * 8 * 3];
        let frame = Frame::packed(PixelFormat::Rgb, 8, 8, &data, 24).unwrap();
        let mut d = Descriptor::from_json(JSON).unwrap();
        d.crop.margin_px = 0.0;
        let t = crop_tensor(&frame, &BBox::new(0.0, 0.0, 2.0, 2.0), &d).unwrap();
        assert!(t.iter().all(|v| (v - 1.0).abs() < 1e-5), "{t:?}");
        d.crop.margin_px = 2.0;
        let t = crop_tensor(&frame, &BBox::new(0.0, 0.0, 2.0, 2.0), &d).unwrap();
        assert_eq!(t[0], -1.0);
        assert!((t[15] - 1.0).abs() < 1e-5);
        assert!(crop_tensor(&frame, &BBox::new(0.0, 0.0, f32::NAN, 2.0), &d).is_err());
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut v = [1.0, 2.0, 3.0, 1000.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[3] > 0.99);
    }
}
