// SPDX-License-Identifier: GPL-3.0-or-later
//! The core's [`Phonemizer`] over libespeak-ng: the one place the two meet.

use neural_media::tts::Phonemizer;

/// espeak-ng through the `espeak-ng` crate (process-global, serialised inside the crate).
#[derive(Debug, Default, Clone, Copy)]
pub struct Espeak;

impl Phonemizer for Espeak {
    fn phonemize(&self, voice: &str, text: &str) -> neural_media::Result<String> {
        espeak_ng::phonemize(voice, text)
            .map_err(|e| neural_media::Error::Phonemizer(e.to_string()))
    }
}
