// SPDX-License-Identifier: MPL-2.0
//! `expressionoverlay` draws what `faceexpression` found onto packed RGB video: for every
//! `GstVideoRegionOfInterestMeta` of type `face`, a box in a colour chosen by track id, a label
//! `#<track> <expression> <confidence>%`, and optionally one small bar per class probability and
//! the five landmarks. Frames without face metas pass unchanged.
//!
//! Properties: `line-width` (px), `show-labels`, `show-probabilities`, `show-landmarks`, and
//! `privacy` (`none`, `blur`, `pixelate`): anonymises each face box before anything is drawn
//! (with `show-labels=false` nothing about the face is written; `pipelines/anonymise-video.sh`).
//!
//! ```sh
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! video/x-raw,format=BGRx ! \
//!     faceexpression ! expressionoverlay show-probabilities=true ! videoconvert ! \
//!     video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location=out.mp4
//! ```
//! (`pipelines/annotate-video.sh` records the same to an MP4.)

use std::sync::{LazyLock, Mutex};

use embedded_graphics::mono_font::{MonoFont, MonoTextStyleBuilder, ascii};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::Privacy;
use super::canvas::{Canvas, Layout};
use super::privacy::{self, Plane, Region};
use crate::formats;
use crate::meta::{self, FaceMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "expressionoverlay",
        gst::DebugColorFlags::empty(),
        Some("Face expression overlay"),
    )
});

const DEFAULT_LINE_WIDTH: u32 = 2;
const DEFAULT_SHOW_LABELS: bool = true;
const DEFAULT_SHOW_PROBABILITIES: bool = false;
const DEFAULT_SHOW_LANDMARKS: bool = false;
const DEFAULT_PRIVACY: Privacy = Privacy::None;

/// Largest coordinate or size drawn, far past any frame (larger values are clamped to it).
const COORD_LIMIT: u32 = 1 << 20;

/// Width in pixels of a full (probability 1.0) bar.
const BAR_WIDTH: u32 = 60;

const PALETTE: [Rgb888; 8] = [
    Rgb888::new(0x2e, 0xcc, 0x71),
    Rgb888::new(0x34, 0x98, 0xdb),
    Rgb888::new(0xf1, 0xc4, 0x0f),
    Rgb888::new(0xe7, 0x4c, 0x3c),
    Rgb888::new(0x9b, 0x59, 0xb6),
    Rgb888::new(0x1a, 0xbc, 0x9c),
    Rgb888::new(0xe6, 0x7e, 0x22),
    Rgb888::new(0xec, 0xf0, 0xf1),
];

#[derive(Debug, Clone, Copy)]
struct Settings {
    line_width: u32,
    show_labels: bool,
    show_probabilities: bool,
    show_landmarks: bool,
    privacy: Privacy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            line_width: DEFAULT_LINE_WIDTH,
            show_labels: DEFAULT_SHOW_LABELS,
            show_probabilities: DEFAULT_SHOW_PROBABILITIES,
            show_landmarks: DEFAULT_SHOW_LANDMARKS,
            privacy: DEFAULT_PRIVACY,
        }
    }
}

#[derive(Default)]
pub struct ExpressionOverlay {
    settings: Mutex<Settings>,
}

/// `#<track> <expression> <confidence>%`, with what the meta has of it.
fn caption(face: &FaceMeta) -> String {
    let expression = face.expression.as_ref();
    let label = expression.and_then(|e| e.label.as_ref());
    match (label, expression.and_then(|e| e.confidence)) {
        (Some(label), Some(c)) => format!("#{} {} {:.0}%", face.id, label, c * 100.0),
        (Some(label), None) => format!("#{} {}", face.id, label),
        _ => format!("#{}", face.id),
    }
}

fn layout(format: gst_video::VideoFormat) -> Option<Layout> {
    let (bytes_per_pixel, [r, g, b]) = formats::packed_rgb(format)?.packed_layout()?;
    Some(Layout {
        bytes_per_pixel,
        r,
        g,
        b,
    })
}

/// The face's box clipped to the frame, if any of it is inside.
fn clipped(face: &FaceMeta, width: u32, height: u32) -> Option<Region> {
    let (x, y, w, h) = face.rect;
    let (x1, y1) = (x.min(width), y.min(height));
    let (x2, y2) = (
        x.saturating_add(w).min(width),
        y.saturating_add(h).min(height),
    );
    (x2 > x1 && y2 > y1).then(|| Region {
        x: x1 as usize,
        y: y1 as usize,
        width: (x2 - x1) as usize,
        height: (y2 - y1) as usize,
    })
}

/// Blurs or pixelates the face box, at a strength that scales with the face.
fn anonymise(plane: &mut Plane<'_>, region: Region, privacy: Privacy) {
    let side = region.width.max(region.height);
    match privacy {
        Privacy::None => {}
        Privacy::Blur => privacy::blur(plane, region, (side / 8).max(4)),
        Privacy::Pixelate => privacy::pixelate(plane, region, (side / 8).max(6)),
    }
}

fn font_for(height: u32) -> &'static MonoFont<'static> {
    match height {
        0..400 => &ascii::FONT_6X10,
        400..900 => &ascii::FONT_9X15,
        _ => &ascii::FONT_10X20,
    }
}

fn draw_face<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    face: &FaceMeta,
    settings: &Settings,
    font: &MonoFont<'_>,
) -> Result<(), D::Error> {
    let colour = PALETTE[face.id.unsigned_abs() as usize % PALETTE.len()];
    // Metas may come from anywhere: bring coordinates far past the frame back to where the
    // drawing arithmetic (i32) cannot overflow; what lies outside the frame is not drawn anyway.
    let (x, y, w, h) = face.rect;
    let (x, y, w, h) = (
        x.min(COORD_LIMIT) as i32,
        y.min(COORD_LIMIT) as i32,
        w.min(COORD_LIMIT),
        h.min(COORD_LIMIT),
    );
    Rectangle::new(Point::new(x, y), Size::new(w, h))
        .into_styled(PrimitiveStyle::with_stroke(colour, settings.line_width))
        .draw(target)?;

    let line_height = font.character_size.height as i32 + 2;
    if settings.show_labels {
        let style = MonoTextStyleBuilder::new()
            .font(font)
            .text_color(Rgb888::BLACK)
            .background_color(colour)
            .build();
        // Above the box, or inside it when the box touches the top edge.
        let top = if y >= line_height {
            y - line_height
        } else {
            y + settings.line_width as i32
        };
        Text::with_baseline(&caption(face), Point::new(x, top), style, Baseline::Top)
            .draw(target)?;
    }

    let probabilities = face.probabilities.as_deref().unwrap_or_default();
    if settings.show_probabilities {
        let text = MonoTextStyleBuilder::new()
            .font(font)
            .text_color(Rgb888::WHITE)
            .background_color(Rgb888::BLACK)
            .build();
        let label_width = 4 * font.character_size.width as i32;
        // Below the box, or inside it along its bottom when they would leave the frame.
        let rows = probabilities.len() as i32 * line_height;
        let frame_height = target.bounding_box().size.height as i32;
        let first = if y + h as i32 + 2 + rows <= frame_height {
            y + h as i32 + 2
        } else {
            (y + h as i32 - rows - settings.line_width as i32).max(0)
        };
        for (row, (name, p)) in probabilities.iter().enumerate() {
            let top = first + row as i32 * line_height;
            let short: String = name.chars().take(3).collect();
            Text::with_baseline(&short, Point::new(x, top), text, Baseline::Top).draw(target)?;
            let origin = Point::new(x + label_width, top + 1);
            let bar_height = font.character_size.height.saturating_sub(2).max(1);
            Rectangle::new(origin, Size::new(BAR_WIDTH, bar_height))
                .into_styled(PrimitiveStyle::with_fill(Rgb888::new(40, 40, 40)))
                .draw(target)?;
            let filled = (p.clamp(0.0, 1.0) * BAR_WIDTH as f64).round() as u32;
            Rectangle::new(origin, Size::new(filled, bar_height))
                .into_styled(PrimitiveStyle::with_fill(colour))
                .draw(target)?;
        }
    }

    if settings.show_landmarks {
        let diameter = (w / 25).clamp(3, 9);
        let limit = f64::from(COORD_LIMIT);
        for &(lx, ly) in face.landmarks.as_deref().unwrap_or_default() {
            let (lx, ly) = (lx.clamp(-limit, limit), ly.clamp(-limit, limit));
            Circle::with_center(Point::new(lx.round() as i32, ly.round() as i32), diameter)
                .into_styled(PrimitiveStyle::with_fill(colour))
                .draw(target)?;
        }
    }
    Ok(())
}

#[glib::object_subclass]
impl ObjectSubclass for ExpressionOverlay {
    const NAME: &'static str = "GstNmExpressionOverlay";
    type Type = super::ExpressionOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for ExpressionOverlay {
    fn constructed(&self) {
        self.parent_constructed();
        neural_media_gst::name_after_factory(self.obj().upcast_ref());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("line-width")
                    .nick("Line width")
                    .blurb("Width of the face box outline, in pixels")
                    .minimum(1)
                    .maximum(32)
                    .default_value(DEFAULT_LINE_WIDTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-labels")
                    .nick("Show labels")
                    .blurb("Write '#<track> <expression> <confidence>%' above each face")
                    .default_value(DEFAULT_SHOW_LABELS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-probabilities")
                    .nick("Show probabilities")
                    .blurb("Draw one bar per expression class below each face")
                    .default_value(DEFAULT_SHOW_PROBABILITIES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("privacy", DEFAULT_PRIVACY)
                    .nick("Privacy")
                    .blurb("Blur or pixelate each face box before drawing (none, blur, pixelate); combine with show-labels=false to write nothing about the face")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-landmarks")
                    .nick("Show landmarks")
                    .blurb("Draw the five facial landmarks (eyes, nose, mouth corners)")
                    .default_value(DEFAULT_SHOW_LANDMARKS)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "line-width" => settings.line_width = value.get().expect("type checked upstream"),
            "show-labels" => settings.show_labels = value.get().expect("type checked upstream"),
            "show-probabilities" => {
                settings.show_probabilities = value.get().expect("type checked upstream")
            }
            "show-landmarks" => {
                settings.show_landmarks = value.get().expect("type checked upstream")
            }
            "privacy" => settings.privacy = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "line-width" => settings.line_width.to_value(),
            "show-labels" => settings.show_labels.to_value(),
            "show-probabilities" => settings.show_probabilities.to_value(),
            "show-landmarks" => settings.show_landmarks.to_value(),
            "privacy" => settings.privacy.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for ExpressionOverlay {}

impl ElementImpl for ExpressionOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face expression overlay",
                "Filter/Effect/Video",
                "Draws face boxes, track ids, expressions and probabilities from face ROI metas",
                "neural-media developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| formats::filter_pad_templates(formats::packed_rgb_formats()));
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for ExpressionOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;
}

impl VideoFilterImpl for ExpressionOverlay {
    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let faces = meta::faces(frame.buffer());
        if faces.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let settings = *self.settings.lock().unwrap();
        let (width, height) = (frame.width(), frame.height());
        let Some(layout) = layout(frame.format()) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("unsupported format {:?}", frame.format())
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let stride =
            usize::try_from(frame.plane_stride()[0]).map_err(|_| gst::FlowError::NotSupported)?;
        let data = frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
        if settings.privacy != Privacy::None {
            let mut plane = Plane {
                data: &mut *data,
                stride,
                bpp: layout.bytes_per_pixel,
            };
            let needed = stride * (height as usize).saturating_sub(1)
                + width as usize * layout.bytes_per_pixel;
            if plane.data.len() >= needed {
                for region in faces.iter().filter_map(|f| clipped(f, width, height)) {
                    anonymise(&mut plane, region, settings.privacy);
                }
            }
        }
        let Some(mut canvas) = Canvas::new(data, width, height, stride, layout) else {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("frame smaller than its caps say")
            );
            return Err(gst::FlowError::Error);
        };
        let font = font_for(height);
        for face in &faces {
            let _ = draw_face(&mut canvas, face, &settings, font);
        }
        gst::trace!(CAT, imp = self, "drew {} faces", faces.len());
        Ok(gst::FlowSuccess::Ok)
    }
}
