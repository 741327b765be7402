// SPDX-License-Identifier: MPL-2.0
//! The JSON record `analyticsjson` writes per frame, GStreamer-free. Field names follow DL
//! Streamer's `gvametaconvert` (`timestamp`, `resolution`, `objects[].detection.bounding_box`
//! normalised to 0..1, `x`/`y`/`w`/`h` in pixels) plus the face-specific `expression`,
//! `landmarks` and `frames`.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// One line of output: everything known about one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameRecord {
    /// Buffer PTS in nanoseconds (`null` for a buffer without one).
    pub timestamp: Option<u64>,
    pub resolution: Resolution,
    /// The `source-id` property, left out when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub objects: Vec<FaceObject>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

/// One face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceObject {
    /// Track id (stable across frames).
    pub id: i64,
    pub detection: Detection,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<Expression>,
    /// `[x, y]` in frame pixels, CenterFace order (eyes, nose tip, mouth corners).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub landmarks: Vec<[f64; 2]>,
    /// How many frames this track has been seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub bounding_box: BoundingBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    pub label: String,
    pub label_id: u32,
}

/// Box corners normalised by the frame size, clamped to 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundingBox {
    pub x_min: f64,
    pub y_min: f64,
    pub x_max: f64,
    pub y_max: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Expression {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_label: Option<String>,
    /// Where the box comes from: `full`, `roi`, `predicted` or `upstream`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub box_source: Option<String>,
    #[serde(skip_serializing_if = "Probabilities::is_empty")]
    pub probabilities: Probabilities,
}

/// Class name → probability, written as a JSON object in the classifier's label order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probabilities(pub Vec<(String, f64)>);

impl Probabilities {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Probabilities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, p) in &self.0 {
            map.serialize_entry(name, p)?;
        }
        map.end()
    }
}

impl BoundingBox {
    /// Normalises a pixel rectangle `(x, y, w, h)` by a `width`×`height` frame.
    pub fn normalised(rect: (u32, u32, u32, u32), resolution: Resolution) -> BoundingBox {
        let (x, y, w, h) = rect;
        let norm = |v: f64, size: u32| {
            if size == 0 {
                0.0
            } else {
                (v / f64::from(size)).clamp(0.0, 1.0)
            }
        };
        BoundingBox {
            x_min: norm(f64::from(x), resolution.width),
            y_min: norm(f64::from(y), resolution.height),
            x_max: norm(f64::from(x) + f64::from(w), resolution.width),
            y_max: norm(f64::from(y) + f64::from(h), resolution.height),
        }
    }
}

impl FrameRecord {
    /// The record as one line of JSON (no trailing newline).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_serialises_in_gvametaconvert_shape() {
        let resolution = Resolution {
            width: 200,
            height: 100,
        };
        let record = FrameRecord {
            timestamp: Some(40_000_000),
            resolution,
            source: None,
            objects: vec![FaceObject {
                id: 3,
                detection: Detection {
                    bounding_box: BoundingBox::normalised((50, 25, 100, 50), resolution),
                    confidence: Some(0.5),
                    label: "face".into(),
                    label_id: 0,
                },
                x: 50,
                y: 25,
                w: 100,
                h: 50,
                expression: Some(Expression {
                    label: Some("sad".into()),
                    confidence: Some(0.75),
                    raw_label: None,
                    box_source: Some("roi".into()),
                    probabilities: Probabilities(vec![
                        ("sad".into(), 0.75),
                        ("angry".into(), 0.25),
                    ]),
                }),
                landmarks: vec![[1.0, 2.0]],
                frames: None,
            }],
        };
        let text = String::from_utf8(record.to_json().unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"timestamp":40000000,"resolution":{"width":200,"height":100},"objects":[{"id":3,"detection":{"bounding_box":{"x_min":0.25,"y_min":0.25,"x_max":0.75,"y_max":0.75},"confidence":0.5,"label":"face","label_id":0},"x":50,"y":25,"w":100,"h":50,"expression":{"label":"sad","confidence":0.75,"box_source":"roi","probabilities":{"sad":0.75,"angry":0.25}},"landmarks":[[1.0,2.0]]}]}"#
        );
    }

    #[test]
    fn boxes_are_clamped_and_zero_sized_frames_do_not_divide() {
        let b = BoundingBox::normalised(
            (90, 0, 20, 10),
            Resolution {
                width: 100,
                height: 0,
            },
        );
        assert_eq!((b.x_min, b.x_max, b.y_min, b.y_max), (0.9, 1.0, 0.0, 0.0));
    }
}
