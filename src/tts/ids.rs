// SPDX-License-Identifier: MPL-2.0
//! Phonemes to model ids (piper's `phonemize` post-processing and `phonemes_to_ids`). Pure.

use unicode_normalization::UnicodeNormalization;

use super::config::{BOS, EOS, PAD, VoiceConfig};

/// Removes espeak-ng's language-switch flags such as `(en)` or `(fr)`: every `(`, one or more
/// characters other than `)`, then `)` (piper's `\([^)]+\)`).
pub fn strip_language_flags(phonemes: &str) -> String {
    let mut out = String::with_capacity(phonemes.len());
    let mut rest = phonemes;
    while let Some(open) = rest.find('(') {
        let after = &rest[open + 1..];
        match after.find(')') {
            Some(close) if close > 0 => {
                out.push_str(&rest[..open]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A clause's phoneme string as piper builds it: the phonemizer output without language flags,
/// then the clause punctuation, then a space after `, : ;` (not a sentence boundary).
pub fn clause_phonemes(phonemes: &str, terminator: Option<char>) -> String {
    let mut out = strip_language_flags(phonemes);
    if let Some(t) = terminator {
        out.push(t);
        if matches!(t, ',' | ':' | ';') {
            out.push(' ');
        }
    }
    out
}

/// Ids of one model run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhonemeIds {
    /// `^ _ (p _)* $`, through the voice's map.
    pub ids: Vec<i64>,
    /// Phonemes (code points after NFD) that were mapped.
    pub mapped: usize,
    /// Phonemes that the voice's map lacks, dropped.
    pub dropped: usize,
}

/// Maps a phoneme string (the concatenated [`clause_phonemes`] of a sentence or clause) to ids:
/// NFD, one phoneme per code point, unknown ones dropped and counted, the whole framed as
/// `^ _ (p _)* $` with the map's own ids for `^ _ $`.
pub fn phonemes_to_ids(phonemes: &str, config: &VoiceConfig) -> PhonemeIds {
    // The config guarantees ^ _ $ exist; fall back to nothing rather than panic.
    let symbol = |c: char| config.ids(c).unwrap_or(&[]);
    let (bos, pad, eos) = (symbol(BOS), symbol(PAD), symbol(EOS));
    let mut out = PhonemeIds::default();
    out.ids.extend_from_slice(bos);
    out.ids.extend_from_slice(pad);
    for phoneme in phonemes.nfd() {
        match config.ids(phoneme) {
            Some(ids) => {
                out.ids.extend_from_slice(ids);
                out.ids.extend_from_slice(pad);
                out.mapped += 1;
            }
            None => {
                tracing::debug!(?phoneme, "phoneme missing from the voice's id map, dropped");
                out.dropped += 1;
            }
        }
    }
    out.ids.extend_from_slice(eos);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VoiceConfig {
        VoiceConfig::parse(
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"},
                "phoneme_id_map": {"_": [7], "^": [5], "$": [6], " ": [3], "a": [14],
                                   "ˈ": [120], ",": [8], ".": [10], "e": [18], "̃": [141]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn language_flags_are_stripped() {
        assert_eq!(strip_language_flags("a(en)b(fr)c"), "abc");
        assert_eq!(strip_language_flags("()x(y"), "()x(y");
        assert_eq!(strip_language_flags("((a)b)"), "b)");
        assert_eq!(strip_language_flags(""), "");
        assert_eq!(strip_language_flags("ʃ(ˈé)t"), "ʃt");
    }

    #[test]
    fn clause_punctuation_and_space() {
        assert_eq!(clause_phonemes("a(en)", Some(',')), "a, ");
        assert_eq!(clause_phonemes("a", Some(';')), "a; ");
        assert_eq!(clause_phonemes("a", Some('.')), "a.");
        assert_eq!(clause_phonemes("a", Some('?')), "a?");
        assert_eq!(clause_phonemes("a", None), "a");
    }

    #[test]
    fn ids_are_framed_padded_and_use_the_map() {
        let ids = phonemes_to_ids("ˈa, a.", &config());
        assert_eq!(
            ids.ids,
            vec![5, 7, 120, 7, 14, 7, 8, 7, 3, 7, 14, 7, 10, 7, 6]
        );
        assert_eq!((ids.mapped, ids.dropped), (6, 0));
        assert_eq!(phonemes_to_ids("", &config()).ids, vec![5, 7, 6]);
    }

    #[test]
    fn nfd_splits_accents_and_unknowns_are_dropped() {
        // "ẽ" (U+1EBD) decomposes into e + combining tilde.
        let ids = phonemes_to_ids("\u{1ebd}xa", &config());
        assert_eq!(ids.ids, vec![5, 7, 18, 7, 141, 7, 14, 7, 6]);
        assert_eq!((ids.mapped, ids.dropped), (3, 1));
        let c = config();
        assert!(ids.ids.iter().all(|&i| (0..c.id_count()).contains(&i)));
    }
}
