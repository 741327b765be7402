// SPDX-License-Identifier: MPL-2.0
//! Speech marks: when each word and each viseme of a chunk is spoken. Pure, no model.
//!
//! A Piper voice that has the phoneme durations as a second output (see
//! `scripts/piper-add-durations.py`) tells, for each input id, how many decoder frames it lasts;
//! the samples of a run are those frames times the hop length, which is derived from each run
//! (samples / frames) rather than assumed.
//!
//! **Words.** The phoneme words of a chunk are the runs of its phoneme string between spaces (and
//! clause punctuation), exactly the ones the ids were made from, so the ids stay as they are. To
//! know which source words each phoneme word says, [`find_words`] phonemizes every source word
//! alone and aligns the two phoneme strings (edit distance, stress and length marks left out):
//! espeak-ng merges words (`out of the` → `ˌaʊɾəv ðə`: the first mark covers `out of`) and
//! expands others (`3.50` → four words: four marks with the same source span).
//!
//! **Visemes.** Each phoneme maps to one of the 15 visemes of the Oculus / MPEG-4 set ([`viseme`]);
//! consecutive phonemes with the same viseme make one mark, pauses and punctuation are `sil`.

use unicode_normalization::UnicodeNormalization;

use super::ChunkIds;
use super::config::{BOS, PAD, VoiceConfig};
use super::ids::strip_language_flags;
use super::phonemize::Phonemizer;
use super::text::CLAUSE_PUNCTUATION;
use crate::error::Result;

/// The 15 viseme names, in the Oculus Lipsync order.
pub const VISEMES: [&str; 15] = [
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
];

/// Which source words a phoneme word says: byte offsets in the chunk's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordSource {
    /// First byte of the first source word.
    pub start: usize,
    /// Byte after the last source word.
    pub end: usize,
    /// How many source words the span covers (more than one where espeak-ng merged words).
    pub words: usize,
}

/// A word of a chunk and when it is spoken, in samples from the chunk's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordMark {
    /// The source text it says.
    pub text: String,
    /// First byte in the chunk's text.
    pub start: usize,
    /// Byte after its end in the chunk's text.
    pub end: usize,
    /// Source words covered (more than one where espeak-ng merged words).
    pub words: usize,
    /// First sample.
    pub sample: usize,
    /// Length in samples.
    pub len: usize,
}

/// A viseme and when it is shown, in samples from the chunk's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisemeMark {
    /// One of [`VISEMES`].
    pub viseme: &'static str,
    /// First sample.
    pub sample: usize,
    /// Length in samples.
    pub len: usize,
}

/// The marks of one chunk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkMarks {
    /// Words in order (empty when the source words were not looked up, see [`find_words`]).
    pub words: Vec<WordMark>,
    /// Visemes in order, covering the whole run.
    pub visemes: Vec<VisemeMark>,
}

/// The viseme of an IPA phoneme (one code point after NFD); `None` for stress, length and other
/// modifiers (and symbols not in the table), which belong to the phoneme before them. Pauses and
/// punctuation are `sil`.
pub fn viseme(phoneme: char) -> Option<&'static str> {
    Some(match phoneme {
        'p' | 'b' | 'm' => "PP",
        'f' | 'v' | 'ɱ' => "FF",
        'θ' | 'ð' => "TH",
        't' | 'd' | 'ɾ' | 'ʔ' | 'ʈ' | 'ɖ' => "DD",
        'k' | 'g' | 'ɡ' | 'ŋ' | 'x' | 'ɣ' | 'h' | 'q' | 'χ' | 'ʁ' | 'ɦ' => "kk",
        'ʃ' | 'ʒ' | 'ʧ' | 'ʤ' | 'ɕ' | 'ʑ' | 'c' | 'ɟ' => "CH",
        's' | 'z' | 'ç' | 'ʝ' => "SS",
        'n' | 'l' | 'ɫ' | 'ɲ' | 'ɳ' | 'ɭ' | 'ʎ' | 'ɬ' => "nn",
        'r' | 'ɹ' | 'ɻ' | 'ʀ' | 'ɽ' | 'ɚ' | 'ɝ' => "RR",
        'a' | 'ɑ' | 'æ' | 'ʌ' | 'ɐ' | 'ɶ' => "aa",
        'e' | 'ɛ' | 'ə' | 'ɜ' | 'ɞ' | 'ø' | 'œ' | 'ɘ' => "E",
        'i' | 'ɪ' | 'ɨ' | 'j' | 'y' | 'ʏ' | 'ɯ' => "ih",
        'o' | 'ɔ' | 'ɒ' | 'ɤ' | 'ɵ' => "oh",
        'u' | 'ʊ' | 'w' | 'ʉ' | 'ɥ' | 'ʋ' => "ou",
        ' ' | BOS | PAD | '$' => "sil",
        c if CLAUSE_PUNCTUATION.contains(&c) => "sil",
        // Stress, length, tie bars, diacritics and any other symbol: part of the phoneme before.
        _ => return None,
    })
}

/// Characters trimmed from the ends of a source word: quotes, brackets, clause punctuation,
/// dashes (a word is what is left; `$5` and `50%` keep their signs).
fn is_trimmed(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '"'
            | '\''
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '«'
            | '»'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '„'
            | '…'
            | '-'
            | '–'
            | '—'
            | '¡'
            | '¿'
    )
}

/// The source words of a text: runs between spaces, quotes and brackets trimmed, as byte ranges.
pub fn source_words(text: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut offset = 0;
    for token in text.split(' ') {
        let trimmed = token.trim_start_matches(is_trimmed);
        let start = offset + (token.len() - trimmed.len());
        let trimmed = trimmed.trim_end_matches(is_trimmed);
        if !trimmed.is_empty() {
            words.push((start, start + trimmed.len()));
        }
        offset += token.len() + 1;
    }
    words
}

/// The phoneme words of a chunk's phoneme string (NFD), as code point ranges.
pub fn phoneme_words(phonemes: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start = None;
    let mut count = 0;
    for (i, c) in phonemes.chars().enumerate() {
        let separator = c == ' ' || CLAUSE_PUNCTUATION.contains(&c);
        match (separator, start) {
            (true, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
        count = i + 1;
    }
    if let Some(s) = start {
        words.push((s, count));
    }
    words
}

/// The phonemes compared when aligning: stress, length and combining marks left out.
fn alignment_phonemes(phonemes: &str) -> impl Iterator<Item = char> + '_ {
    phonemes.chars().filter(|&c| {
        !(c == ' '
            || c == 'ˈ'
            || c == 'ˌ'
            || c == 'ː'
            || c == '-'
            || CLAUSE_PUNCTUATION.contains(&c)
            || ('\u{300}'..='\u{36f}').contains(&c))
    })
}

/// Pairs each element of `a` with the elements of `b` an edit-distance alignment matches it with
/// (substitutions included): `pairs[i]` lists indices into `b`.
fn align(a: &[char], b: &[char]) -> Vec<Vec<usize>> {
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    let mut cost = vec![0u32; (n + 1) * width];
    for (j, c) in cost.iter_mut().enumerate().take(width) {
        *c = j as u32;
    }
    for i in 1..=n {
        cost[i * width] = i as u32;
        for j in 1..=m {
            let sub = cost[(i - 1) * width + j - 1] + u32::from(a[i - 1] != b[j - 1]);
            let del = cost[(i - 1) * width + j] + 1;
            let ins = cost[i * width + j - 1] + 1;
            cost[i * width + j] = sub.min(del).min(ins);
        }
    }
    let mut pairs = vec![Vec::new(); n];
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let here = cost[i * width + j];
        if here == cost[(i - 1) * width + j - 1] + u32::from(a[i - 1] != b[j - 1]) {
            pairs[i - 1].push(j - 1);
            i -= 1;
            j -= 1;
        } else if here == cost[(i - 1) * width + j] + 1 {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    pairs
}

/// Finds the source words each phoneme word of `chunk` says (see the module documentation):
/// one [`WordSource`] per phoneme word, in order. Each source word is phonemized alone with
/// `phonemizer`, for the alignment.
pub fn find_words(
    chunk: &ChunkIds,
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
) -> Result<Vec<WordSource>> {
    let sources = source_words(&chunk.text);
    let spoken: Vec<char> = chunk.phonemes.chars().collect();
    let words = phoneme_words(&chunk.phonemes);
    if words.is_empty() || sources.is_empty() {
        return Ok(Vec::new());
    }
    // Both sides as one phoneme sequence, each phoneme labelled with its word.
    let (mut a, mut a_word) = (Vec::new(), Vec::new());
    for (w, &(start, end)) in words.iter().enumerate() {
        let word: String = spoken[start..end].iter().collect();
        for c in alignment_phonemes(&word) {
            a.push(c);
            a_word.push(w);
        }
    }
    let (mut b, mut b_word) = (Vec::new(), Vec::new());
    for (s, &(start, end)) in sources.iter().enumerate() {
        let alone = phonemizer.phonemize(&config.espeak_voice, &chunk.text[start..end])?;
        let alone: String = strip_language_flags(&alone).nfd().collect();
        for c in alignment_phonemes(&alone) {
            b.push(c);
            b_word.push(s);
        }
    }
    // Votes: the source words each phoneme word's phonemes were aligned with.
    let mut span: Vec<Option<(usize, usize)>> = vec![None; words.len()];
    for (i, js) in align(&a, &b).into_iter().enumerate() {
        for j in js {
            let (w, s) = (a_word[i], b_word[j]);
            span[w] = Some(match span[w] {
                Some((lo, hi)) => (lo.min(s), hi.max(s)),
                None => (s, s),
            });
        }
    }
    // Words aligned with nothing take their neighbour's source; spans are kept in order.
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(words.len());
    for w in 0..words.len() {
        let (mut lo, mut hi) = span[w]
            .or_else(|| out.last().map(|&(_, hi)| (hi, hi)))
            .or_else(|| span[w..].iter().flatten().next().map(|&(lo, _)| (lo, lo)))
            .unwrap_or((0, 0));
        if let Some(&(_, prev_hi)) = out.last() {
            lo = lo.max(prev_hi.min(hi));
            hi = hi.max(lo);
        }
        // A source word between two phoneme words' spans that none of them took (alignment
        // noise) goes to the earlier word.
        if let Some(last) = out.last_mut()
            && lo > last.1 + 1
        {
            last.1 = lo - 1;
        }
        out.push((lo, hi));
    }
    Ok(out
        .into_iter()
        .map(|(lo, hi)| WordSource {
            start: sources[lo].0,
            end: sources[hi].1,
            words: hi - lo + 1,
        })
        .collect())
}

/// Finds normalised text (the front end's sentences and chunks: whitespace and control
/// characters collapsed to single spaces, see [`super::text::normalize`]) in the text it came from,
/// in order, to give marks byte offsets in the source.
#[derive(Debug, Clone)]
pub struct SourceCursor<'a> {
    source: &'a str,
    pos: usize,
}

fn is_blank(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

impl<'a> SourceCursor<'a> {
    /// A cursor at the start of `source`.
    pub fn new(source: &'a str) -> SourceCursor<'a> {
        SourceCursor { source, pos: 0 }
    }

    /// A cursor at byte `pos` of `source` (clamped to a character boundary).
    pub fn at(source: &'a str, mut pos: usize) -> SourceCursor<'a> {
        pos = pos.min(source.len());
        while !source.is_char_boundary(pos) {
            pos -= 1;
        }
        SourceCursor { source, pos }
    }

    /// The current byte position in the source.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Finds `normalized` from the current position on and moves past it: returns, for each
    /// byte offset of `normalized` (its length included), the source's byte offset. Characters
    /// that are not found (the text did not come from this source) keep the current position.
    pub fn locate(&mut self, normalized: &str) -> Vec<usize> {
        let mut map = vec![self.pos; normalized.len() + 1];
        let rest = |pos: usize| self.source[pos..].chars();
        let mut pos = self.pos;
        // Leading blanks in the source are not part of the text.
        pos += rest(pos)
            .take_while(|&c| is_blank(c))
            .map(char::len_utf8)
            .sum::<usize>();
        for (i, c) in normalized.char_indices() {
            if c == ' ' {
                map[i] = pos;
                pos += rest(pos)
                    .take_while(|&c| is_blank(c))
                    .map(char::len_utf8)
                    .sum::<usize>();
                continue;
            }
            let skip: usize = rest(pos)
                .take_while(|&c| is_blank(c))
                .map(char::len_utf8)
                .sum();
            match rest(pos + skip).next() {
                Some(found) if found == c => {
                    map[i] = pos + skip;
                    pos += skip + found.len_utf8();
                }
                _ => map[i] = pos,
            }
            for b in 1..c.len_utf8() {
                map[i + b] = map[i];
            }
        }
        map[normalized.len()] = pos;
        self.pos = pos;
        map
    }
}

/// The id range of each code point of `phonemes` (as [`super::ids::phonemes_to_ids`] lays them
/// out: each mapped phoneme's ids, then the pad), and the number of ids before the first one.
pub(crate) fn id_ranges(phonemes: &str, config: &VoiceConfig) -> Vec<(usize, usize)> {
    let len = |c| config.ids(c).map_or(0, <[i64]>::len);
    let pad = len(PAD);
    let mut at = len(BOS) + pad;
    phonemes
        .chars()
        .map(|c| {
            let start = at;
            if let Some(ids) = config.ids(c) {
                at += ids.len() + pad;
            }
            (start, at)
        })
        .collect()
}

/// Where each id of a run starts, in samples, from the voice's durations (`frames`, one per id,
/// as the model rounds them) and the `samples` the run produced: the hop length is derived per
/// run, samples ÷ frames.
pub(crate) struct IdTimes {
    /// Frames before each id, and after the last one.
    before: Vec<f64>,
    hop: f64,
    samples: usize,
}

impl IdTimes {
    pub(crate) fn new(frames: &[f32], samples: usize) -> IdTimes {
        let mut before = Vec::with_capacity(frames.len() + 1);
        let mut total = 0f64;
        before.push(0f64);
        for f in frames {
            total += f64::from(f.max(0.0));
            before.push(total);
        }
        let hop = if total > 0.0 {
            samples as f64 / total
        } else {
            0.0
        };
        IdTimes {
            before,
            hop,
            samples,
        }
    }

    /// Whether the durations add up to any time at all.
    pub(crate) fn spoken(&self) -> bool {
        self.before.last().is_some_and(|&total| total > 0.0)
    }

    /// The sample at which id `id` starts (`id` past the last: the end of the last id), at most
    /// the run's length.
    pub(crate) fn sample_at(&self, id: usize) -> usize {
        let frames = self.before[id.min(self.before.len() - 1)];
        ((frames * self.hop).round() as usize).min(self.samples)
    }
}

/// Marks of one model run: `phonemes` (the chunk's, NFD) gave the ids whose `frames` (the
/// voice's durations, one per id) produced `samples` samples. `words` are the phoneme words'
/// sources ([`find_words`]; empty: no word marks); `text` is the chunk's text.
pub fn chunk_marks(
    text: &str,
    phonemes: &str,
    words: &[WordSource],
    frames: &[f32],
    samples: usize,
    config: &VoiceConfig,
) -> ChunkMarks {
    let times = IdTimes::new(frames, samples);
    if !times.spoken() {
        return ChunkMarks::default();
    }
    let sample_at = |id: usize| times.sample_at(id);
    let ranges = id_ranges(phonemes, config);
    let mut marks = ChunkMarks::default();
    let spoken = phoneme_words(phonemes);
    if words.len() == spoken.len() {
        for (&(first, last), source) in spoken.iter().zip(words) {
            let (Some(&(start, _)), Some(&(_, end))) = (ranges.get(first), ranges.get(last - 1))
            else {
                continue;
            };
            let (from, to) = (sample_at(start), sample_at(end));
            marks.words.push(WordMark {
                text: text.get(source.start..source.end).unwrap_or("").to_owned(),
                start: source.start,
                end: source.end,
                words: source.words,
                sample: from,
                len: to - from,
            });
        }
    }
    // Visemes: the ids before the first phoneme are silence; modifiers join the phoneme before.
    let mut push = |viseme: &'static str, from: usize, to: usize| {
        if to <= from {
            return;
        }
        match marks.visemes.last_mut() {
            Some(last) if last.viseme == viseme || last.sample + last.len < from => {
                last.len = to - last.sample;
            }
            _ => marks.visemes.push(VisemeMark {
                viseme,
                sample: from,
                len: to - from,
            }),
        }
    };
    let first = ranges.first().map_or(frames.len(), |r| r.0);
    push("sil", 0, sample_at(first));
    let mut current = "sil";
    for (c, &(start, end)) in phonemes.chars().zip(&ranges) {
        if let Some(v) = viseme(c) {
            current = v;
        }
        push(current, sample_at(start), sample_at(end));
    }
    let last = ranges.last().map_or(0, |r| r.1);
    push("sil", sample_at(last), samples);
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VoiceConfig {
        VoiceConfig::parse(
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "x"},
                "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [4], "b": [5],
                                   "ˈ": [6], ".": [7]}}"#,
        )
        .unwrap()
    }

    /// Each source word alone is its letters.
    struct Letters;
    impl Phonemizer for Letters {
        fn phonemize(&self, _voice: &str, text: &str) -> Result<String> {
            Ok(text.chars().filter(|c| c.is_alphabetic()).collect())
        }
    }

    fn chunk(text: &str, phonemes: &str) -> ChunkIds {
        ChunkIds {
            text: text.into(),
            phonemes: phonemes.into(),
            ids: super::super::ids::phonemes_to_ids(phonemes, &config()),
            sentence_end: true,
            words: Vec::new(),
        }
    }

    #[test]
    fn source_and_phoneme_words() {
        assert_eq!(
            source_words("\"Hi,\" he said -- $5."),
            vec![(1, 3), (6, 8), (9, 13), (17, 19)]
        );
        assert_eq!(phoneme_words("ab ˈa, b."), vec![(0, 2), (3, 5), (7, 8)]);
        assert!(phoneme_words(" .").is_empty());
    }

    #[test]
    fn merged_and_expanded_words() {
        let config = config();
        // One word for two ("ab b" said as "abb"), then one source word said as two.
        let c = chunk("ab b aab.", "abb a ab.");
        let words = find_words(&c, &config, &Letters).unwrap();
        assert_eq!(
            words,
            vec![
                WordSource {
                    start: 0,
                    end: 4,
                    words: 2
                },
                WordSource {
                    start: 5,
                    end: 8,
                    words: 1
                },
                WordSource {
                    start: 5,
                    end: 8,
                    words: 1
                },
            ]
        );
    }

    #[test]
    fn marks_follow_the_durations() {
        let config = config();
        let c = chunk("ab a.", "ab ˈa.");
        let words = find_words(&c, &config, &Letters).unwrap();
        // ids: ^ _ a _ b _ ' ' _ ˈ _ a _ . _ $
        assert_eq!(c.ids.ids.len(), 15);
        let frames = [
            1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.0, 1.0, 1.0, 0.0, 1.0,
        ];
        let samples = 14 * 10;
        let marks = chunk_marks(&c.text, &c.phonemes, &words, &frames, samples, &config);
        let words: Vec<_> = marks
            .words
            .iter()
            .map(|w| (w.text.as_str(), w.sample, w.len))
            .collect();
        assert_eq!(words, vec![("ab", 10, 50), ("a", 70, 50)]);
        let visemes: Vec<_> = marks
            .visemes
            .iter()
            .map(|v| (v.viseme, v.sample, v.len))
            .collect();
        assert_eq!(
            visemes,
            vec![
                ("sil", 0, 10),
                ("aa", 10, 20),
                ("PP", 30, 30),
                ("sil", 60, 10),
                ("aa", 70, 50),
                ("sil", 120, 20)
            ]
        );
        // Without durations, nothing.
        assert_eq!(
            chunk_marks(&c.text, &c.phonemes, &[], &[0.0; 15], 0, &config),
            ChunkMarks::default()
        );
    }

    #[test]
    fn cursor_maps_normalised_text_to_the_source() {
        let source = "  Hi,\n\tthere.  Né  x";
        let mut cursor = SourceCursor::new(source);
        let map = cursor.locate("Hi, there.");
        assert_eq!((map[0], map[4], map[10]), (2, 7, 13));
        let map = cursor.locate("Né x");
        assert_eq!(&source[map[0]..map[5]], "Né  x");
        assert_eq!(&source[map[3]..map[5]], "  x");
        // Text that is not there does not move the cursor past the end or panic.
        let map = SourceCursor::at(source, 3).locate("zz");
        assert!(map.iter().all(|&m| m <= source.len()));
    }

    #[test]
    fn every_viseme_name_is_in_the_table() {
        for c in "pbmfvθðtdkgŋʃʒszlnɹɑæʌəɛɪiɔoʊuwh ._ˈ".chars() {
            if let Some(v) = viseme(c) {
                assert!(VISEMES.contains(&v), "{c}: {v}");
            }
        }
        assert_eq!(viseme('ˈ'), None);
    }
}
