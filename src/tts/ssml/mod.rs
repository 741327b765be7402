// SPDX-License-Identifier: MPL-2.0
//! SSML input: a subset of the W3C Speech Synthesis Markup Language, offline.
//!
//! [`parse`] turns one SSML document into a [`Document`]: a sequence of [`Segment`]s (speech
//! at one prosody, silence, marks) and the [`Warning`]s about what it could not honour.
//! [`plan`] phonemizes a document into the model runs, silences and marks a [`Voice`](super::Voice)
//! speaks ([`Voice::synthesize_ssml`](super::Voice::synthesize_ssml) and friends, in [`speak`]).
//!
//! | SSML | what it does |
//! |---|---|
//! | `speak`, `p`, `s` | structure: the end of a `p` or `s` ends a sentence (sentence silence follows) |
//! | `break` `time` (`ms`, `s`), `strength` | silence of that length, see [`break_strength`] (no attribute: `medium`); at most [`MAX_BREAK_SECONDS`] |
//! | `prosody` `rate` | `x-slow` 0.5, `slow` 0.75, `medium` 1, `fast` 1.25, `x-fast` 1.75, `N%` (of the normal rate), `+N%`/`-N%` (relative): the length scale is divided by it (clamped to 0.25–4) |
//! | `prosody` `volume` | `silent` 0, `x-soft` −12 dB, `soft` −6 dB, `medium` 0 dB, `loud` +3 dB, `x-loud` +6 dB, `±N dB`, `N%`: a gain on top of the `volume` setting (clipped once) |
//! | `prosody` `pitch`, `contour`, `range` | ignored, with a warning (once per document) |
//! | `sub` `alias` | the alias is spoken instead of the content |
//! | `say-as` `interpret-as` | `characters`/`spell-out` (letter by letter), `cardinal`, `ordinal` (English suffixes), `digits`, `date` with `format` `mdy`/`dmy`/`ymd` (and `md`, `dm`, `ym`, `my`; English month names), `telephone` (digit by digit, in groups); others are spoken as written, with a warning |
//! | `phoneme` `alphabet="ipa"` `ph` | the IPA string goes through the voice's phoneme-id map directly (NFD, one symbol per code point; `.` syllable breaks are dropped and an ASCII `g` is read as `ɡ`); symbols the voice lacks are skipped, with a warning; another alphabet: the content is spoken, with a warning |
//! | `emphasis` `level` | a little slower: `strong` ×1.25 length, `moderate` (default) ×1.15, `reduced` ×0.9, `none` ×1 |
//! | `mark` `name` | a [`Segment::Mark`] at its time (an element posts `neuraltts-mark`) |
//! | `lang`, `voice`, `audio`, other elements | ignored, with a warning: their content is spoken with the voice (for `audio`, the alternative text; its `desc` is not spoken) |
//! | `metadata`, `meta`, `lexicon`, `desc` | not spoken |
//!
//! Malformed SSML is never silence: when the document is not well-formed XML, [`parse`] warns
//! and speaks its text content (tags dropped, entities unescaped). A document without a `speak`
//! root (bare text, or several elements) is read as the content of one, with a warning.
//!
//! Speech is split into separate model runs only where it has to be: at a `break`, a `mark`, a
//! prosody change (`prosody`, `emphasis`) and the end of a `p` or `s`, besides the sentence and
//! clause splits of plain text. `sub`, `say-as` and `phoneme` stay in the run of the sentence
//! around them. With a voice that gives phoneme durations, a `break` or `mark` inside a sentence
//! does not cut it: the sentence is one run, and the break's silence is inserted (the mark
//! placed) at the quietest point of the word boundary the durations give (see [`plan`] and
//! [`Voice::synthesize_ssml_run`](super::Voice::synthesize_ssml_run)). Without durations, such a
//! sentence is two runs: the speech on each side is a little different from the uncut
//! sentence's (each part is spoken as a whole phrase).

mod parse;
pub mod plan;
mod sayas;
pub mod speak;

pub use parse::parse;
pub use plan::{Step, plan};
pub use speak::{SpokenMark, SsmlSpeech};

/// The longest `break`, in seconds (longer ones are cut to it, with a warning).
pub const MAX_BREAK_SECONDS: f32 = 10.0;

/// Prosody of a stretch of speech, relative to the synthesis configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prosody {
    /// Multiplies the length scale (>1 is slower).
    pub length: f32,
    /// Multiplies the volume.
    pub volume: f32,
}

impl Default for Prosody {
    fn default() -> Self {
        Prosody {
            length: 1.0,
            volume: 1.0,
        }
    }
}

/// One piece of a stretch of speech.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text, through the ordinary front end (sentences, clauses, the phonemizer).
    Text(String),
    /// IPA phonemes given by a `phoneme` element, mapped to ids directly; `text` is the
    /// element's content (what the phonemes stand for, reported as the chunk's text).
    Phonemes { ipa: String, text: String },
}

/// One segment of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Speech at one prosody. Adjacent text is one [`Piece::Text`].
    Speech {
        pieces: Vec<Piece>,
        prosody: Prosody,
        /// Whether the speech ends a sentence (the end of a `p`, an `s` or the document) even
        /// without final punctuation; `false` where a `break`, `mark` or prosody change cut it.
        sentence_end: bool,
    },
    /// Silence, in seconds.
    Break(f32),
    /// A named point in time.
    Mark(String),
}

/// Something in a document that was not honoured as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Warning {
    /// What and why, for a user.
    pub message: String,
    /// The document is not well-formed XML (its text content is spoken).
    pub malformed: bool,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A parsed SSML document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// What to say, in order.
    pub segments: Vec<Segment>,
    /// What was ignored or repaired, each message once.
    pub warnings: Vec<Warning>,
}

impl Document {
    /// The text the document speaks (the text pieces and the content of `phoneme` elements),
    /// joined by spaces: what a caption of it shows.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            if let Segment::Speech { pieces, .. } = segment {
                for piece in pieces {
                    let text = match piece {
                        Piece::Text(t) => t.as_str(),
                        Piece::Phonemes { text, .. } => text.as_str(),
                    };
                    let text = text.trim();
                    if !text.is_empty() {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(text);
                    }
                }
            }
        }
        super::text::normalize(&out)
    }

    /// The names of the document's marks, in order.
    pub fn marks(&self) -> Vec<&str> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Mark(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// The silence a `break` `strength` stands for, in seconds: `none` 0, `x-weak` 0.1, `weak` 0.25,
/// `medium` 0.4, `strong` 0.75, `x-strong` 1.2 (about a comma, a sentence end, a paragraph
/// end as a reader pauses; the same order as other engines, Azure's being 0.25–1.25 s).
pub fn break_strength(strength: &str) -> Option<f32> {
    Some(match strength {
        "none" => 0.0,
        "x-weak" => 0.1,
        "weak" => 0.25,
        "medium" => 0.4,
        "strong" => 0.75,
        "x-strong" => 1.2,
        _ => return None,
    })
}
