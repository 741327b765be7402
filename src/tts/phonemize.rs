// SPDX-License-Identifier: MPL-2.0
//! The phonemizer interface.
//!
//! The core does not link espeak-ng (GPL): whoever can see both crates implements this trait over
//! `espeak_ng::phonemize`, in about ten lines (the TTS plugin does, and so do the integration
//! tests).

use crate::error::Result;

/// Turns text into IPA phonemes, the way espeak-ng's `espeak_TextToPhonemes` does with
/// `espeakPHONEMES_IPA`.
pub trait Phonemizer {
    /// Phonemes of `text` (one clause, its punctuation included) for the espeak voice `voice`
    /// (e.g. `en-us`). When the phonemizer splits the text further, the pieces are joined with a
    /// single space. Clause punctuation is not part of the output. Errors are
    /// [`crate::Error::Phonemizer`].
    fn phonemize(&self, voice: &str, text: &str) -> Result<String>;
}

impl<P: Phonemizer + ?Sized> Phonemizer for &P {
    fn phonemize(&self, voice: &str, text: &str) -> Result<String> {
        (**self).phonemize(voice, text)
    }
}
