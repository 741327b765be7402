// SPDX-License-Identifier: MPL-2.0
//! Face detection, expression classification, tracking and temporal smoothing.

pub mod classify;
pub mod detect;
pub mod frame;
pub mod geometry;
pub mod temporal;
pub mod track;
