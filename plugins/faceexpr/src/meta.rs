// SPDX-License-Identifier: MPL-2.0
//! The face metadata layout, in one place: a `GstVideoRegionOfInterestMeta` of type `face` per
//! face (box in frame pixels, `id` = track id) with three param structures:
//! * `expression`: `label` (string), `confidence` (double), `raw-label` (string), `track-id`
//!   (uint64), `frames` (uint64), `detection-confidence` (double), `box-source` (string: `full`,
//!   `roi`, `predicted` or `upstream`);
//! * `probabilities`: one double field per class label;
//! * `landmarks`: `x0 y0 … x4 y4` (doubles, frame pixels).
//!
//! `faceexpression` writes it ([`write`], from [`FaceMeta::from_annotation`]); `expressionoverlay`,
//! `expressiondescribe` and `analyticsjson` read it ([`faces`], [`read`]). These field names and
//! types are public API (README, "Face metadata"): Python reads them.

#[cfg(doc)]
use neural_media::face::BoxSource;
use neural_media::face::FaceAnnotation;

/// The ROI type of a face meta.
pub const ROI_TYPE: &str = "face";

/// Number of landmarks (CenterFace: eyes, nose tip, mouth corners).
const LANDMARKS: usize = 5;

/// One face as stored in a face ROI meta. Reading leaves whatever is absent (or of another type)
/// `None`; writing leaves out what is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceMeta {
    /// `(x, y, width, height)` in frame pixels.
    pub rect: (u32, u32, u32, u32),
    /// The meta's id: the track id (saturated to `i32`).
    pub id: i32,
    /// The `expression` structure.
    pub expression: Option<ExpressionParam>,
    /// The `probabilities` structure: `(field name, probability)` in field order.
    pub probabilities: Option<Vec<(String, f64)>>,
    /// The `landmarks` structure: the `(xk, yk)` pairs present, in order.
    pub landmarks: Option<Vec<(f64, f64)>>,
}

/// The fields of the `expression` structure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpressionParam {
    /// `label`: the smoothed expression.
    pub label: Option<String>,
    /// `confidence`: the smoothed probability of `label`.
    pub confidence: Option<f64>,
    /// `raw-label`: this frame's classifier output.
    pub raw_label: Option<String>,
    /// `track-id`.
    pub track_id: Option<u64>,
    /// `frames`: frames tracked so far.
    pub frames: Option<u64>,
    /// `detection-confidence`.
    pub detection_confidence: Option<f64>,
    /// `box-source`: `full`, `roi`, `predicted` or `upstream` ([`BoxSource::as_str`]).
    pub box_source: Option<String>,
}

impl FaceMeta {
    /// What `faceexpression` stores for one annotated face; `labels` names the probabilities.
    pub fn from_annotation(face: &FaceAnnotation, labels: &[String]) -> FaceMeta {
        let b = face.bbox;
        let rect = (
            b.x1.max(0.0).round() as u32,
            b.y1.max(0.0).round() as u32,
            (b.x2 - b.x1).max(0.0).round() as u32,
            (b.y2 - b.y1).max(0.0).round() as u32,
        );
        FaceMeta {
            rect,
            id: i32::try_from(face.track_id).unwrap_or(i32::MAX),
            expression: Some(ExpressionParam {
                label: Some(face.label.clone()),
                confidence: Some(f64::from(face.confidence)),
                raw_label: Some(face.raw_label.clone()),
                track_id: Some(face.track_id),
                frames: Some(face.frames_tracked),
                detection_confidence: Some(f64::from(face.detection_confidence)),
                box_source: Some(face.box_source.as_str().to_string()),
            }),
            probabilities: Some(
                labels
                    .iter()
                    .zip(&face.probabilities)
                    .map(|(label, p)| (field_name(label), f64::from(*p)))
                    .collect(),
            ),
            landmarks: Some(
                face.landmarks
                    .iter()
                    .map(|&(x, y)| (f64::from(x), f64::from(y)))
                    .collect(),
            ),
        }
    }

    /// The track id: the `expression` structure's `track-id`, or else the meta's id.
    pub fn track_id(&self) -> Option<u64> {
        self.expression
            .as_ref()
            .and_then(|e| e.track_id)
            .or_else(|| u64::try_from(self.id).ok())
    }
}

/// Field name for a class label in a structure: lower-case, `-` for anything but `[a-z0-9]`.
pub fn field_name(label: &str) -> String {
    let name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("class-{name}")
    }
}

/// Adds one face ROI meta to `buffer`.
pub fn write(buffer: &mut gst::BufferRef, face: &FaceMeta) {
    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, ROI_TYPE, face.rect);
    fill(&mut meta, face);
}

/// Gives an existing face ROI meta (another detector's) `face`'s id and param structures; its box
/// stays as it is.
pub fn fill(meta: &mut gst_video::VideoRegionOfInterestMeta, face: &FaceMeta) {
    meta.set_id(face.id);
    if let Some(e) = &face.expression {
        meta.add_param(
            gst::Structure::builder("expression")
                .field_if_some("label", e.label.as_deref())
                .field_if_some("confidence", e.confidence)
                .field_if_some("raw-label", e.raw_label.as_deref())
                .field_if_some("track-id", e.track_id)
                .field_if_some("frames", e.frames)
                .field_if_some("detection-confidence", e.detection_confidence)
                .field_if_some("box-source", e.box_source.as_deref())
                .build(),
        );
    }
    if let Some(probabilities) = &face.probabilities {
        let mut s = gst::Structure::builder("probabilities");
        for (name, p) in probabilities {
            s = s.field(name.as_str(), *p);
        }
        meta.add_param(s.build());
    }
    if let Some(landmarks) = &face.landmarks {
        let mut s = gst::Structure::builder("landmarks");
        for (k, (x, y)) in landmarks.iter().enumerate() {
            s = s.field(format!("x{k}"), *x).field(format!("y{k}"), *y);
        }
        meta.add_param(s.build());
    }
}

/// Reads one face ROI meta.
pub fn read(meta: &gst_video::VideoRegionOfInterestMeta) -> FaceMeta {
    FaceMeta {
        rect: meta.rect(),
        id: meta.id(),
        expression: meta.param("expression").map(|s| ExpressionParam {
            label: s.get("label").ok(),
            confidence: s.get("confidence").ok(),
            raw_label: s.get("raw-label").ok(),
            track_id: s.get("track-id").ok(),
            frames: s.get("frames").ok(),
            detection_confidence: s.get("detection-confidence").ok(),
            box_source: s.get("box-source").ok(),
        }),
        probabilities: meta.param("probabilities").map(|s| {
            s.iter()
                .filter_map(|(name, value)| Some((name.to_string(), value.get::<f64>().ok()?)))
                .collect()
        }),
        landmarks: meta.param("landmarks").map(|s| {
            (0..LANDMARKS)
                .filter_map(|k| {
                    Some((
                        s.get::<f64>(format!("x{k}")).ok()?,
                        s.get::<f64>(format!("y{k}")).ok()?,
                    ))
                })
                .collect()
        }),
    }
}

/// Whether `meta` is a face ROI meta.
pub fn is_face(meta: &gst_video::VideoRegionOfInterestMeta) -> bool {
    meta.roi_type() == ROI_TYPE
}

/// The face metas on `buffer`, in order.
pub fn faces(buffer: &gst::BufferRef) -> Vec<FaceMeta> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|meta| meta.roi_type() == ROI_TYPE)
        .map(|meta| read(&meta))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names() {
        assert_eq!(field_name("Happy"), "happy");
        assert_eq!(field_name("very sad"), "very-sad");
        assert_eq!(field_name("3d"), "class-3d");
    }

    #[test]
    fn write_then_read_gives_the_face_back() {
        gst::init().unwrap();
        let face = FaceMeta {
            rect: (10, 20, 30, 40),
            id: 7,
            expression: Some(ExpressionParam {
                label: Some("sad".into()),
                confidence: Some(0.75),
                raw_label: Some("fear".into()),
                track_id: Some(7),
                frames: Some(12),
                detection_confidence: Some(0.5),
                box_source: Some("roi".into()),
            }),
            probabilities: Some(vec![("sad".into(), 0.75), ("fear".into(), 0.25)]),
            landmarks: Some(vec![(1.0, 2.0); LANDMARKS]),
        };
        let mut buffer = gst::Buffer::new();
        write(buffer.get_mut().unwrap(), &face);
        assert_eq!(faces(&buffer), [face]);
    }

    #[test]
    fn absent_fields_stay_none() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::new();
        {
            let buffer = buffer.get_mut().unwrap();
            let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, "face", (1, 2, 3, 4));
            meta.set_id(-1);
            meta.add_param(
                gst::Structure::builder("expression")
                    .field("label", "happy")
                    .field("track-id", "not a number")
                    .build(),
            );
            gst_video::VideoRegionOfInterestMeta::add(buffer, "car", (0, 0, 1, 1));
        }
        let faces = faces(&buffer);
        assert_eq!(faces.len(), 1);
        let face = &faces[0];
        let e = face.expression.as_ref().unwrap();
        assert_eq!(e.label.as_deref(), Some("happy"));
        assert_eq!((e.track_id, e.confidence), (None, None));
        assert_eq!((&face.probabilities, &face.landmarks), (&None, &None));
        assert_eq!(face.track_id(), None);
    }
}
