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

/// The blocks that espeak-ng 1.51 reads safely in a voice of a Latin-, Greek-, Cyrillic- or
/// CJK-script language: Latin (with IPA and the diacritics), Greek, Cyrillic, punctuation,
/// symbols, CJK, kana, full- and half-width forms and emoji.
///
/// On other scripts, Debian's espeak-ng 1.51 switches language and reads freed memory while it
/// does (valgrind: "Invalid read" in `espeak_TextToPhonemes`; `tests/ssml.rs`'s property test
/// crashed with SIGSEGV about once in 40 runs). Found one character at a time: U+0D59 (Malayalam),
/// U+0558 (Armenian), U+08FF (Arabic), Georgian, the Hangul Jamo, `<` U+A8F9 (Devanagari
/// extended), and U+1D242 (a Greek musical combining mark) before U+A7D3.
const SAFE_BLOCKS: &[std::ops::RangeInclusive<char>] = &[
    '\u{0000}'..='\u{052F}',
    '\u{1D00}'..='\u{1D7F}',
    '\u{1E00}'..='\u{2BFF}',
    '\u{2C60}'..='\u{2C7F}',
    '\u{2DE0}'..='\u{2E7F}',
    '\u{3000}'..='\u{30FF}',
    '\u{3400}'..='\u{4DBF}',
    '\u{4E00}'..='\u{9FFF}',
    '\u{A640}'..='\u{A69F}',
    '\u{A720}'..='\u{A7FF}',
    '\u{AB30}'..='\u{AB6F}',
    '\u{F900}'..='\u{FAFF}',
    '\u{FE00}'..='\u{FE1F}',
    '\u{FE30}'..='\u{FE6F}',
    '\u{FF00}'..='\u{FFEF}',
    '\u{1F000}'..='\u{1FAFF}',
];

/// The blocks of combining marks that espeak-ng reads safely (the diacritics).
const SAFE_MARKS: &[std::ops::RangeInclusive<char>] = &[
    '\u{0300}'..='\u{036F}',
    '\u{1AB0}'..='\u{1AFF}',
    '\u{1DC0}'..='\u{1DFF}',
    '\u{20D0}'..='\u{20FF}',
    '\u{FE20}'..='\u{FE2F}',
];

/// Languages (espeak-ng voice names up to the first `-`) written in a script outside
/// [`SAFE_BLOCKS`]: their text is passed as it is.
const OTHER_SCRIPT_LANGUAGES: &[&str] = &[
    "hy", "hyw", "he", "yi", "ar", "fa", "ur", "ps", "sd", "ug", "ku", "ckb", "syr", "dv", "hi",
    "mr", "ne", "sa", "bn", "as", "pa", "gu", "or", "ta", "te", "kn", "ml", "si", "bpy", "mai",
    "kok", "bho", "sat", "mni", "ks", "ka", "ko", "th", "lo", "my", "km", "am", "ti", "bo", "dz",
    "chr", "iu",
];

/// `text` without NUL characters and, for a voice of a language written in a script within
/// [`SAFE_BLOCKS`], with every other character (and combining marks outside [`SAFE_MARKS`])
/// replaced by a space: espeak-ng would switch language for them and may read freed memory; the
/// voice has no phonemes for them either.
fn guard_foreign_scripts(voice: &str, text: &str) -> String {
    let language = voice.split(['-', '_']).next().unwrap_or(voice);
    let keep = OTHER_SCRIPT_LANGUAGES.contains(&language.to_ascii_lowercase().as_str());
    let within = |ranges: &[std::ops::RangeInclusive<char>], c: char| {
        ranges.iter().any(|range| range.contains(&c))
    };
    text.chars()
        .filter(|&c| c != '\0')
        .map(|c| {
            let safe = within(SAFE_BLOCKS, c)
                && (!unicode_normalization::char::is_combining_mark(c) || within(SAFE_MARKS, c));
            if keep || safe { c } else { ' ' }
        })
        .collect()
}

/// Translates `text` into IPA phonemes with the espeak-ng voice `voice` (e.g. `"en-us"`).
///
/// Clauses are joined with a single space; punctuation is not part of the output. NUL characters
/// in `text` are dropped, and so are the characters of scripts that espeak-ng 1.51 mishandles in
/// voices of other languages (see [`SAFE_BLOCKS`]). Empty or whitespace-only text gives an empty string.
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
