// SPDX-License-Identifier: MPL-2.0
//! Face detection, expression classification, tracking and temporal smoothing.
