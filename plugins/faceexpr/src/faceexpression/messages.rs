// SPDX-License-Identifier: MPL-2.0
//! The element messages `faceexpression` posts (public API, README "Face metadata"):
//! `expression-changed` per label change and, with `post-messages=every-frame`, one
//! `faceexpression` per frame.

use neural_media::face::FrameAnnotations;

use super::PostMessages;

/// The structures of the messages to post for one frame, in order: the changes, then the frame.
pub fn structures(
    result: &FrameAnnotations,
    pts: Option<gst::ClockTime>,
    mode: PostMessages,
) -> Vec<gst::Structure> {
    if mode == PostMessages::None {
        return Vec::new();
    }
    let pts_ns = pts.map_or(u64::MAX, gst::ClockTime::nseconds);
    let mut out: Vec<gst::Structure> = result
        .changes
        .iter()
        .map(|change| {
            gst::Structure::builder("expression-changed")
                .field("track-id", change.track_id)
                .field("old-label", change.old.clone().unwrap_or_default())
                .field("new-label", &change.new)
                .field("pts", pts_ns)
                .build()
        })
        .collect();
    if mode == PostMessages::EveryFrame {
        let mut s = gst::Structure::builder("faceexpression")
            .field("pts", pts_ns)
            .field("faces", result.faces.len() as u32)
            .field("detector-ran", result.stats.detector_ran);
        for (i, f) in result.faces.iter().enumerate() {
            let b = f.bbox;
            s = s.field(
                format!("face-{i}"),
                gst::Structure::builder("face")
                    .field("track-id", f.track_id)
                    .field("label", &f.label)
                    .field("confidence", f64::from(f.confidence))
                    .field("x", f64::from(b.x1))
                    .field("y", f64::from(b.y1))
                    .field("width", f64::from(b.x2 - b.x1))
                    .field("height", f64::from(b.y2 - b.y1))
                    .build(),
            );
        }
        out.push(s.build());
    }
    out
}
