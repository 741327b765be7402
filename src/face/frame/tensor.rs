// SPDX-License-Identifier: MPL-2.0
//! What a model input looks like: the [`Region`] of a frame it is made from and the [`TensorSpec`]
//! of one image ([`Channels`], [`TensorLayout`], size, scale and offset). Classifier descriptors
//! name channels and layouts in lowercase (`"gray"`, `"rgb"`, `"bgr"`; `"nchw"`, `"nhwc"`).

use super::Frame;

/// An integer pixel rectangle of a frame; it may extend past the frame's edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Left column (may be negative).
    pub x: i64,
    /// Top row (may be negative).
    pub y: i64,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Region {
    /// The whole frame.
    pub fn full(frame: &Frame<'_>) -> Region {
        Region {
            x: 0,
            y: 0,
            width: frame.width(),
            height: frame.height(),
        }
    }
}

/// Channels of a tensor (`"gray"`, `"rgb"`, `"bgr"` in descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// One channel, luma.
    Gray,
    /// R, G, B.
    Rgb,
    /// B, G, R.
    Bgr,
}

impl Channels {
    /// Number of channels.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb | Channels::Bgr => 3,
        }
    }
}

/// Memory layout of one image in a tensor (`"nchw"`, `"nhwc"` in descriptors).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TensorLayout {
    /// Channel planes (`[C, H, W]`).
    #[default]
    Nchw,
    /// Interleaved channels (`[H, W, C]`).
    Nhwc,
}

/// What one image of a model input looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorSpec {
    /// Width in samples.
    pub width: usize,
    /// Height in samples.
    pub height: usize,
    /// Channels and their order.
    pub channels: Channels,
    /// Memory layout.
    pub layout: TensorLayout,
    /// Multiplier applied to the 0–255 value.
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
}

impl TensorSpec {
    /// Number of f32 values of one image.
    pub fn len(&self) -> usize {
        self.width * self.height * self.channels.count()
    }

    /// True when the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
impl TensorSpec {
    /// The tests' plain colour tensor: R, G, B planes of 0–255 values, `width × height`.
    pub(super) const fn plain_rgb(width: usize, height: usize) -> TensorSpec {
        TensorSpec {
            width,
            height,
            channels: Channels::Rgb,
            layout: TensorLayout::Nchw,
            scale: 1.0,
            offset: 0.0,
        }
    }
}
