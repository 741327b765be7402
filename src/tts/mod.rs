// SPDX-License-Identifier: MPL-2.0
//! Piper VITS voices: text front end and synthesis.
