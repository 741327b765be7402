// SPDX-License-Identifier: GPL-3.0-or-later
//! Small safe wrapper over Debian's libespeak-ng (1.51): text to IPA phonemes.
//!
//! espeak-ng keeps its state in globals and is not thread-safe, so every call goes through one
//! process-wide [`Mutex`]; the library is initialised on first use (synchronous mode, no audio,
//! `espeakINITIALIZE_DONT_EXIT`) and the voice is only switched when it changes.
//!
//! Debian's 1.51 has no `espeak_TextToPhonemesWithTerminator`: [`phonemize`] calls
//! `espeak_TextToPhonemes` until espeak sets the text pointer to NULL (it advances one clause per
//! call) and joins the clauses' phonemes with a single space. The clause punctuation itself is not
//! part of espeak's output; callers that need it split the text into clauses first.
//!
//! The FFI is declared by hand from `speak_lib.h` and limited to the three functions used here.

use std::ffi::{CStr, CString, c_void};
use std::fmt;
use std::sync::Mutex;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    /// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`.
    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    /// `espeakINITIALIZE_DONT_EXIT`: return an error instead of calling `exit()`.
    pub const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
    /// `espeakCHARS_UTF8`.
    pub const ESPEAK_CHARS_UTF8: c_int = 1;
    /// `espeakPHONEMES_IPA` (phoneme mode bit 1).
    pub const ESPEAK_PHONEMES_IPA: c_int = 0x02;
    /// `espeak_ERROR::EE_OK`.
    pub const EE_OK: c_int = 0;

    // Linked by build.rs (`cargo:rustc-link-lib=espeak-ng`).
    unsafe extern "C" {
        /// Returns the sample rate, or -1 on error.
        pub fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_TextToPhonemes(
            textptr: *mut *const c_void,
            textmode: c_int,
            phonememode: c_int,
        ) -> *const c_char;
    }
}

/// What can go wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `espeak_Initialize` failed (usually: espeak-ng-data not found).
    Initialize(String),
    /// The voice name is unknown to espeak-ng (or contains a NUL byte).
    Voice(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Initialize(reason) => write!(f, "cannot initialise espeak-ng: {reason}"),
            Error::Voice(voice) => write!(f, "espeak-ng has no voice {voice:?}"),
        }
    }
}

impl std::error::Error for Error {}

/// The global espeak-ng state, behind [`ESPEAK`].
struct State {
    initialized: bool,
    voice: Option<String>,
}

static ESPEAK: Mutex<State> = Mutex::new(State {
    initialized: false,
    voice: None,
});

impl State {
    fn initialize(&mut self) -> Result<(), Error> {
        if self.initialized {
            return Ok(());
        }
        // SAFETY: called with the global lock held; a NULL path selects the compiled-in
        // espeak-ng-data location; DONT_EXIT makes a failure return -1 instead of exiting.
        let rate = unsafe {
            ffi::espeak_Initialize(
                ffi::AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                std::ptr::null(),
                ffi::ESPEAK_INITIALIZE_DONT_EXIT,
            )
        };
        if rate < 0 {
            return Err(Error::Initialize(
                "espeak_Initialize failed (is espeak-ng-data installed?)".into(),
            ));
        }
        self.initialized = true;
        Ok(())
    }

    fn set_voice(&mut self, voice: &str) -> Result<(), Error> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let name = CString::new(voice).map_err(|_| Error::Voice(voice.to_owned()))?;
        // SAFETY: lock held, library initialised, `name` is a valid NUL-terminated string that
        // outlives the call (espeak copies what it keeps).
        let status = unsafe { ffi::espeak_SetVoiceByName(name.as_ptr()) };
        if status != ffi::EE_OK {
            // The previous voice may be half-replaced: force a reset next time.
            self.voice = None;
            return Err(Error::Voice(voice.to_owned()));
        }
        self.voice = Some(voice.to_owned());
        Ok(())
    }

    fn text_to_phonemes(&mut self, text: &CStr) -> String {
        let mut pieces: Vec<String> = Vec::new();
        let mut cursor: *const c_void = text.as_ptr().cast();
        while !cursor.is_null() {
            // SAFETY: lock held, library initialised and a voice set; `cursor` points into the
            // NUL-terminated buffer `text`, which outlives the loop; espeak only ever advances it
            // within that buffer or sets it to NULL at the end. The returned pointer is a
            // NUL-terminated buffer owned by espeak, valid until the next call: copied at once.
            let phonemes = unsafe {
                let out = ffi::espeak_TextToPhonemes(
                    &mut cursor,
                    ffi::ESPEAK_CHARS_UTF8,
                    ffi::ESPEAK_PHONEMES_IPA,
                );
                if out.is_null() {
                    break;
                }
                CStr::from_ptr(out).to_string_lossy().into_owned()
            };
            let phonemes = phonemes.trim();
            if !phonemes.is_empty() {
                pieces.push(phonemes.to_owned());
            }
        }
        pieces.join(" ")
    }
}

/// Code points of the scripts from Armenian to Sinhala (Armenian, Hebrew, Arabic, Syriac, Thaana,
/// NKo, Samaritan, Mandaic and the Indic scripts), Georgian and the Hangul Jamo.
///
/// On text in a voice of another script, Debian's espeak-ng 1.51 switches language for these
/// characters, and reads freed memory while it does (valgrind: "Invalid read" in
/// `espeak_TextToPhonemes`, found by scanning U+0020–U+1DFF, U+1E00–U+2BFF, U+3000–U+30FF and
/// U+F900–U+FFFF one character at a time in an `en-us` text; `tests/ssml.rs`'s property test crashed
/// with SIGSEGV on U+0D59). Latin, Greek, Cyrillic, punctuation, symbols, kana and emoji were clean.
const GUARDED: &[std::ops::RangeInclusive<char>] = &[
    '\u{0530}'..='\u{0DFF}',
    '\u{10A0}'..='\u{10FF}',
    '\u{1100}'..='\u{11FF}',
];

/// Languages (espeak-ng voice names up to the first `-`) written in a [`GUARDED`] script: their
/// text is passed as it is.
const GUARDED_SCRIPT_LANGUAGES: &[&str] = &[
    "hy", "hyw", "he", "yi", "ar", "fa", "ur", "ps", "sd", "ug", "ku", "ckb", "syr", "dv", "hi",
    "mr", "ne", "sa", "bn", "as", "pa", "gu", "or", "ta", "te", "kn", "ml", "si", "bpy", "mai",
    "kok", "bho", "sat", "mni", "ks", "ka", "ko",
];

/// `text` without NUL characters and, for a voice of a language not written in a [`GUARDED`]
/// script, with those scripts' characters replaced by spaces (espeak would switch language for
/// them; the voice has no phonemes for them either).
fn guard_foreign_scripts(voice: &str, text: &str) -> String {
    let language = voice.split(['-', '_']).next().unwrap_or(voice);
    let keep = GUARDED_SCRIPT_LANGUAGES.contains(&language.to_ascii_lowercase().as_str());
    text.chars()
        .filter(|&c| c != '\0')
        .map(|c| {
            if !keep && GUARDED.iter().any(|range| range.contains(&c)) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Translates `text` into IPA phonemes with the espeak-ng voice `voice` (e.g. `"en-us"`).
///
/// Clauses are joined with a single space; punctuation is not part of the output. NUL characters
/// in `text` are dropped, and so are the characters of scripts that espeak-ng 1.51 mishandles in
/// voices of other languages (see [`GUARDED`]). Empty or whitespace-only text gives an empty string.
pub fn phonemize(voice: &str, text: &str) -> Result<String, Error> {
    let mut state = ESPEAK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    state.initialize()?;
    state.set_voice(voice)?;
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    let text = CString::new(guard_foreign_scripts(voice, text))
        .map_err(|_| Error::Initialize("unreachable: NUL left in text".into()))?;
    Ok(state.text_to_phonemes(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_espeak_mishandles_are_kept_from_voices_of_other_languages() {
        assert_eq!(guard_foreign_scripts("en-us", "a\u{d59}b\0c"), "a bc");
        assert_eq!(
            guard_foreign_scripts("en-us", "ünïcode αβ ж 😀"),
            "ünïcode αβ ж 😀"
        );
        assert_eq!(
            guard_foreign_scripts("ml", "\u{d15}\u{d59}"),
            "\u{d15}\u{d59}"
        );
        assert_eq!(guard_foreign_scripts("hi", "\u{915}"), "\u{915}");
        let ipa = phonemize("en-us", "hello \u{d59}\u{d00} world").unwrap();
        assert!(ipa.contains("həlˈoʊ") && ipa.contains("wˈɜːld"), "{ipa}");
    }

    #[test]
    fn hello_world() {
        let ipa = phonemize("en-us", "hello world").unwrap();
        assert!(ipa.contains("həlˈoʊ"), "{ipa}");
        assert!(ipa.contains("wˈɜːld"), "{ipa}");
    }

    #[test]
    fn all_clauses_are_translated_and_joined_by_one_space() {
        let ipa = phonemize("en-us", "Wait, what? Yes! No: maybe; ok.").unwrap();
        assert_eq!(ipa, "wˈeɪt wˌʌt jˈɛs nˈoʊ mˈeɪbiː ˌoʊkˈeɪ");
    }

    #[test]
    fn empty_and_odd_input_does_not_panic() {
        assert_eq!(phonemize("en-us", "").unwrap(), "");
        assert_eq!(phonemize("en-us", " \n\t ").unwrap(), "");
        let ipa = phonemize("en-us", "hel\0lo").unwrap();
        assert!(ipa.contains("həlˈoʊ"), "{ipa}");
        for text in [
            "...",
            "!!!",
            "\u{1}\u{7f}",
            "((()))",
            "😀",
            "[[h@'loU]]",
            "<b>x</b>",
        ] {
            phonemize("en-us", text).unwrap();
        }
        let long = "word ".repeat(2000);
        assert!(!phonemize("en-us", &long).unwrap().is_empty());
    }

    #[test]
    fn voices_switch_and_unknown_voice_is_an_error() {
        let fr = phonemize("fr", "bonjour").unwrap();
        assert!(fr.contains("bɔ̃ʒˈuʁ"), "{fr}");
        let en = phonemize("en-us", "hello").unwrap();
        assert!(en.contains("həlˈoʊ"), "{en}");
        assert_eq!(
            phonemize("no-such-voice", "x"),
            Err(Error::Voice("no-such-voice".into()))
        );
        assert!(phonemize("en\0us", "x").is_err());
        // A failed switch leaves the library usable.
        assert!(phonemize("en-us", "hello").unwrap().contains("həlˈoʊ"));
    }

    #[test]
    fn concurrent_calls_are_serialised() {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let voice = if i % 2 == 0 { "en-us" } else { "de" };
                    for _ in 0..20 {
                        let ipa = phonemize(voice, "one two three").unwrap();
                        assert!(!ipa.is_empty());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
