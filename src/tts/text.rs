// SPDX-License-Identifier: MPL-2.0
//! Text front end: normalisation and the split into sentences and clauses.
//!
//! Piper (1.8) lets espeak-ng find clauses and reads back each clause's punctuation with
//! `espeak_TextToPhonemesWithTerminator`, which Debian's espeak-ng 1.51 lacks. The split is
//! therefore done here, following espeak-ng's own rules (`ReadClause` in `readclause.c`) so that
//! the ids match piper's:
//!
//! * a clause ends at `. ? ! , : ;` followed by whitespace or the end of the text — `3.50`,
//!   `e.g.x` or `:path` stay whole;
//! * a `.` followed by a lower-case word does not end anything (`Mr. and Mrs.`, `approx. five`);
//! * punctuation before any letter or digit of the clause does not end it;
//! * a run of `?`/`!` (`?!`, `!!!`) counts once, as its first character;
//! * two or more dots (an ellipsis) and `…` do not end a clause (piper would end the clause
//!   without punctuation and glue the next word on; keeping it inside lets espeak pause and keeps
//!   the words apart);
//! * `. ? !` end the sentence, `, : ;` only the clause.
//!
//! Whitespace (newlines included) and control characters collapse to single spaces: a blank line
//! is not a paragraph break here.
//!
//! Timed text may carry WebVTT cue tags, which [`strip_tags`] removes, or come as pango markup
//! (`text/x-raw, format=pango-markup`): [`strip_markup`]
//! turns it into plain text first.
//!
//! To bound memory and latency per model run, a sentence ends after the clause that takes it past
//! [`MAX_SENTENCE_CHARS`], and a clause without punctuation is cut at the first space past that
//! length (or, in a run without spaces, at twice that length). Piper does neither; it only
//! matters for sentences longer than the limit.

/// Length (in characters) past which a sentence or clause is cut, see the module documentation.
pub const MAX_SENTENCE_CHARS: usize = 400;

/// Clause punctuation that piper keeps as a phoneme.
pub const CLAUSE_PUNCTUATION: [char; 6] = ['.', '?', '!', ',', ':', ';'];

/// A clause: text up to and including its punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Normalised text of the clause, its punctuation included, without surrounding spaces.
    pub text: String,
    /// The punctuation that ended the clause, if it ended on one of [`CLAUSE_PUNCTUATION`].
    pub terminator: Option<char>,
}

impl Clause {
    /// Whether this clause ends its sentence (`. ? !`).
    pub fn ends_sentence(&self) -> bool {
        matches!(self.terminator, Some('.' | '?' | '!'))
    }
}

/// A sentence: one or more clauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The clauses, in order; never empty.
    pub clauses: Vec<Clause>,
}

impl Sentence {
    /// The sentence's text (its clauses joined by spaces).
    pub fn text(&self) -> String {
        join_clauses(&self.clauses)
    }
}

/// The clauses' texts joined by single spaces.
pub fn join_clauses(clauses: &[Clause]) -> String {
    let mut text = String::new();
    for clause in clauses {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&clause.text);
    }
    text
}

/// Replaces control characters by spaces, collapses runs of whitespace to one space and trims.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Normalises `text` and splits it into sentences of clauses.
pub fn sentences(text: &str) -> Vec<Sentence> {
    sentences_with_limit(text, MAX_SENTENCE_CHARS)
}

/// [`sentences`] with an explicit length limit (at least 1).
pub fn sentences_with_limit(text: &str, limit: usize) -> Vec<Sentence> {
    let limit = limit.max(1);
    let chars: Vec<char> = normalize(text).chars().collect();
    let mut sentences = Vec::new();
    let mut clauses: Vec<Clause> = Vec::new();
    let mut sentence_chars = 0usize;
    let mut start = 0usize;
    let mut any_alnum = false;
    let mut i = 0usize;

    // Closes chars[start..end] as a clause; ends the sentence when asked or when it is too long.
    let mut close = |clauses: &mut Vec<Clause>,
                     sentence_chars: &mut usize,
                     start: usize,
                     end: usize,
                     terminator: Option<char>,
                     force_sentence_end: bool| {
        let text: String = chars[start..end]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned();
        if !text.is_empty() {
            *sentence_chars += text.chars().count() + 1;
            clauses.push(Clause { text, terminator });
        }
        let ends = matches!(terminator, Some('.' | '?' | '!'));
        if (ends || force_sentence_end || *sentence_chars > limit) && !clauses.is_empty() {
            sentences.push(Sentence {
                clauses: std::mem::take(clauses),
            });
            *sentence_chars = 0;
        }
    };

    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() {
            any_alnum = true;
        }
        if CLAUSE_PUNCTUATION.contains(&c) {
            // The punctuation run: `?!` sequences count once, dots are an ellipsis.
            let mut end = i + 1;
            if c == '.' && chars.get(end) == Some(&'.') {
                while chars.get(end) == Some(&'.') {
                    end += 1;
                }
                i = end;
                continue;
            }
            if c == '?' || c == '!' {
                while matches!(chars.get(end), Some('?' | '!')) {
                    end += 1;
                }
            }
            let followed_by_space = end == chars.len() || chars[end] == ' ';
            let mut ends_clause = followed_by_space && any_alnum;
            if ends_clause && c == '.' {
                let next_word = chars[end..].iter().find(|c| **c != ' ');
                if next_word.is_some_and(|c| c.is_lowercase()) {
                    ends_clause = false;
                }
            }
            if ends_clause {
                close(
                    &mut clauses,
                    &mut sentence_chars,
                    start,
                    end,
                    Some(c),
                    false,
                );
                start = end;
                any_alnum = false;
            }
            i = end;
            continue;
        }
        // Cut over-long clauses: at a space past the limit, or anywhere at twice the limit.
        let clause_len = i - start;
        if (c == ' ' && clause_len >= limit) || clause_len >= 2 * limit {
            close(&mut clauses, &mut sentence_chars, start, i, None, true);
            start = i;
            any_alnum = c.is_alphanumeric();
        }
        i += 1;
    }
    close(
        &mut clauses,
        &mut sentence_chars,
        start,
        chars.len(),
        None,
        true,
    );
    sentences
}

/// Removes pango markup: tags dropped ([`strip_tags`]), the XML entities (named and numeric)
/// unescaped, then the tags that the unescaping revealed dropped too (a demuxer can carry a
/// WebVTT `<v Anchor>` as `&lt;v Anchor&gt;` in pango markup). An `&` that starts no known
/// entity is kept, and so is a `<` that starts no tag.
pub fn strip_markup(markup: &str) -> String {
    strip_tags(&unescape_entities(&strip_tags(markup)))
}

/// Tags of timed text that are never spoken: pango's and WebVTT's cue tags.
const TAGS: &[&str] = &[
    // WebVTT: class, italic, bold, underline, ruby, ruby text, voice, language.
    "c", "i", "b", "u", "ruby", "rt", "v", "lang", // pango (and the font tag of SubRip files)
    "span", "big", "s", "sub", "sup", "small", "tt", "markup", "font",
];

/// The length of the tag `text` starts with: `<name>`, `</name>`, `<name.class…>`,
/// `<name annotation>` for a name in [`TAGS`], or a WebVTT timestamp tag (`<00:19.500>`).
fn tag_len(text: &str) -> Option<usize> {
    let end = text.find('>')?;
    let inner = text.get(1..end)?;
    if inner.contains('<') {
        return None;
    }
    let inner = inner.strip_prefix('/').unwrap_or(inner);
    if inner.starts_with(|c: char| c.is_ascii_digit()) {
        let timestamp = inner
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.');
        return (timestamp && inner.contains(':')).then_some(end + 1);
    }
    let name_end = inner
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(inner.len());
    let (name, after) = inner.split_at(name_end);
    let known = TAGS.iter().any(|tag| tag.eq_ignore_ascii_case(name));
    let well_formed =
        after.is_empty() || after.starts_with('.') || after.starts_with(char::is_whitespace);
    (known && well_formed).then_some(end + 1)
}

/// Removes the tags of timed text (WebVTT's voice, class, timestamp, `b`/`i`/`u`, `ruby`, `lang`,
/// and pango's), keeping everything else: a `<` that starts no such tag (`1 < 2`) stays. Plain
/// `text/x-raw` goes through this; SSML never does.
pub fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match tag_len(rest) {
            Some(len) => rest = &rest[len..],
            None => {
                out.push('<');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Unescapes the XML entities (named and numeric) of `text`; an `&` that starts none is kept.
pub(crate) fn unescape_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest
            .find(';')
            .filter(|&end| end <= 12)
            .and_then(|end| unescape(&rest[1..end]).map(|c| (end, c)));
        match entity {
            Some((end, c)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an XML entity names (`amp`, `#233`, `#x41`, …), without `&` and `;`.
fn unescape(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let code = name.strip_prefix('#')?;
            let value = match code.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => code.parse().ok()?,
            };
            char::from_u32(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<Vec<(String, Option<char>)>> {
        sentences(text)
            .into_iter()
            .map(|s| {
                s.clauses
                    .into_iter()
                    .map(|c| (c.text, c.terminator))
                    .collect()
            })
            .collect()
    }

    fn c(text: &str, t: Option<char>) -> (String, Option<char>) {
        (text.to_owned(), t)
    }

    #[test]
    fn normalises_whitespace_and_controls() {
        assert_eq!(normalize("  a\t\tb\r\n\nc\u{0}d\u{7}  "), "a b c d");
        assert_eq!(normalize("\u{a0}x\u{2003}y"), "x y");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n "), "");
    }

    #[test]
    fn splits_clauses_and_sentences() {
        assert_eq!(
            split("Wait, what? Yes! No: maybe; ok."),
            vec![
                vec![c("Wait,", Some(',')), c("what?", Some('?'))],
                vec![c("Yes!", Some('!'))],
                vec![
                    c("No:", Some(':')),
                    c("maybe;", Some(';')),
                    c("ok.", Some('.'))
                ],
            ]
        );
    }

    #[test]
    fn numbers_and_abbreviations() {
        assert_eq!(
            split("It costs $3.50 on 12 May 2024. Dr. Smith came."),
            vec![
                vec![c("It costs $3.50 on 12 May 2024.", Some('.'))],
                vec![c("Dr.", Some('.'))],
                vec![c("Smith came.", Some('.'))],
            ]
        );
        assert_eq!(
            split("Mr. and Mrs. Jones, e.g. here"),
            vec![
                vec![c("Mr. and Mrs.", Some('.'))],
                vec![c("Jones,", Some(',')), c("e.g. here", None)],
            ]
        );
    }

    #[test]
    fn punctuation_runs_and_ellipses() {
        assert_eq!(
            split("Really?! He said... fine… ok!!!"),
            vec![
                vec![c("Really?!", Some('?'))],
                vec![c("He said... fine… ok!!!", Some('!'))],
            ]
        );
        assert_eq!(
            split(", . hello"),
            vec![vec![c(", . hello", None)]],
            "no clause end before any letter"
        );
        assert!(split("").is_empty());
        assert!(split("   ").is_empty());
        assert_eq!(split("..."), vec![vec![c("...", None)]]);
    }

    #[test]
    fn text_without_final_punctuation_is_a_sentence() {
        assert_eq!(split("hello world"), vec![vec![c("hello world", None)]]);
    }

    #[test]
    fn long_text_is_cut_at_word_boundaries() {
        let words = "word ".repeat(300);
        let sentences = sentences_with_limit(&words, 100);
        assert!(sentences.len() >= 10, "{}", sentences.len());
        for s in &sentences {
            let text = s.text();
            assert!(text.chars().count() <= 110, "{text:?}");
            assert!(text.split(' ').all(|w| w == "word"), "{text:?}");
        }
        let total: usize = sentences.iter().map(|s| s.text().split(' ').count()).sum();
        assert_eq!(total, 300);

        // No spaces at all: cut anyway.
        let blob = "x".repeat(1000);
        let sentences = sentences_with_limit(&blob, 100);
        assert_eq!(sentences.len(), 5);
        assert_eq!(
            sentences.iter().map(|s| s.text().len()).sum::<usize>(),
            1000
        );

        // Many short clauses: the sentence ends after the clause that passes the limit.
        let clauses = "one two, ".repeat(40);
        for s in sentences_with_limit(&clauses, 100) {
            assert!(s.text().chars().count() <= 110);
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "?",
            "!?!",
            ".",
            ". .",
            "a.",
            "😀. 😀",
            "\u{0}.\u{0}",
            "a .b",
            ",,,",
            "1,2, 3",
        ] {
            let _ = sentences(text);
        }
    }

    #[test]
    fn markup_is_stripped_and_unescaped() {
        assert_eq!(
            strip_markup("<i>Hello</i> &amp; goodbye"),
            "Hello & goodbye"
        );
        assert_eq!(
            strip_markup("<b><font color=\"red\">1 &lt; 2</font></b> &quot;x&quot; &apos;y&apos;"),
            "1 < 2 \"x\" 'y'"
        );
        assert_eq!(strip_markup("caf&#233; &#x41;"), "café A");
        assert_eq!(strip_markup("fish & chips"), "fish & chips");
        assert_eq!(strip_markup("a &bogus; b"), "a &bogus; b");
        // A lone `<` is not a tag (this pinned "1  2" before WebVTT tags were handled).
        assert_eq!(strip_markup("1 < 2"), "1 < 2");
        assert_eq!(
            strip_markup("&lt;v Anchor&gt;Back to you.&lt;/v&gt;"),
            "Back to you."
        );
    }

    #[test]
    fn webvtt_and_pango_tags_are_stripped_and_other_angle_brackets_kept() {
        assert_eq!(
            strip_tags("Like a <00:19.000>big-a <00:19.500>pizza <00:20.000>pie"),
            "Like a big-a pizza pie"
        );
        assert_eq!(strip_tags("<v Anchor>Back to you.</v>"), "Back to you.");
        assert_eq!(
            strip_tags("<v.loud Mary>Hi</v> <c.yellow.bg_blue>there</c>"),
            "Hi there"
        );
        assert_eq!(
            strip_tags("<lang en>Hello</lang> <b>b</b><i>i</i><u>u</u>"),
            "Hello biu"
        );
        assert_eq!(strip_tags("<ruby>漢<rt>kan</rt></ruby>"), "漢kan");
        assert_eq!(strip_tags("<span foreground=\"red\">red</span>"), "red");
        for kept in [
            "1 < 2",
            "x<y and y>z",
            "a <= b",
            "<3",
            "<>",
            "< b>",
            "<00>",
            "<script>x",
        ] {
            assert_eq!(strip_tags(kept), kept);
        }
    }
}
