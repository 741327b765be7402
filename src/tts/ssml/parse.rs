// SPDX-License-Identifier: MPL-2.0
//! SSML text to a [`Document`]: the XML is read by `roxmltree`, then walked element by element.

use roxmltree::{Node, NodeType, ParsingOptions};

use super::{Document, MAX_BREAK_SECONDS, Piece, Prosody, Segment, Warning, break_strength, sayas};

/// Elements nested deeper than this are read as their text content (bounds the recursion).
const MAX_DEPTH: usize = 128;
/// Nodes an XML document may have.
const MAX_NODES: u32 = 1_000_000;
/// The prosody multipliers are kept within these bounds.
const LENGTH_RANGE: (f32, f32) = (0.25, 4.0);
const VOLUME_MAX: f32 = 8.0;

/// Parses one SSML document. Never fails: what cannot be honoured becomes a [`Warning`], and a
/// document that is not well-formed XML is spoken as its text content.
pub fn parse(input: &str) -> Document {
    let input = input.trim_start_matches('\u{feff}');
    let options = || ParsingOptions {
        allow_dtd: true,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let mut builder = Builder::default();
    match roxmltree::Document::parse_with_options(input, options()) {
        Ok(doc) => {
            let root = doc.root_element();
            if root.tag_name().name() != "speak" {
                builder.warn(format!(
                    "the SSML root is <{}>, not <speak>: read as the content of one",
                    root.tag_name().name()
                ));
            }
            builder.node(root, 0);
        }
        Err(first) => {
            // Bare text or a fragment (several roots): the content of a <speak>.
            let wrapped = format!("<speak>{input}</speak>");
            match roxmltree::Document::parse_with_options(&wrapped, options()) {
                Ok(doc) if !input.trim_start().starts_with("<?xml") => {
                    builder.warn("the SSML has no <speak> root: read as the content of one");
                    builder.node(doc.root_element(), 0);
                }
                _ => {
                    builder.warnings.push(Warning {
                        message: format!("malformed SSML ({first}): its text is spoken"),
                        malformed: true,
                    });
                    builder.text(&text_content(input));
                }
            }
        }
    }
    builder.finish()
}

/// The text of malformed markup: anything from `<` up to the next `>` dropped where `<` starts
/// a tag, a comment or a declaration, entities unescaped (an `&` that starts none is kept).
fn text_content(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len());
    let mut rest = markup;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let starts_tag = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || matches!(c, '/' | '!' | '?' | '_' | ':'));
        match rest.find('>') {
            Some(end) if starts_tag => {
                out.push(' ');
                rest = &rest[end + 1..];
            }
            _ if starts_tag => rest = "",
            _ => {
                out.push('<');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    crate::tts::text::unescape_entities(&out)
}

#[derive(Default)]
struct Builder {
    segments: Vec<Segment>,
    pieces: Vec<Piece>,
    prosody: Prosody,
    warnings: Vec<Warning>,
    /// The last text was a `say-as` or `sub` replacement: a word that follows at once is kept
    /// apart from it.
    after_word: bool,
}

impl Builder {
    fn warn(&mut self, message: impl Into<String>) {
        let warning = Warning {
            message: message.into(),
            malformed: false,
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn text(&mut self, text: &str) {
        if std::mem::take(&mut self.after_word) && text.starts_with(char::is_alphanumeric) {
            self.text(" ");
        }
        match self.pieces.last_mut() {
            Some(Piece::Text(t)) => t.push_str(text),
            _ => self.pieces.push(Piece::Text(text.to_owned())),
        }
    }

    /// A replacement (`say-as`, `sub`): kept apart from a word right before or after it.
    fn word(&mut self, text: &str) {
        let joined = matches!(
            self.pieces.last(),
            Some(Piece::Text(t)) if t.ends_with(char::is_alphanumeric)
        );
        if joined {
            self.text(" ");
        }
        self.text(text);
        self.after_word = true;
    }

    /// Closes the speech so far as a segment; `sentence_end` when a sentence ends there.
    fn flush(&mut self, sentence_end: bool) {
        let pieces: Vec<Piece> = std::mem::take(&mut self.pieces)
            .into_iter()
            .filter(|p| match p {
                Piece::Text(t) => !t.trim().is_empty(),
                Piece::Phonemes { ipa, .. } => !ipa.trim().is_empty(),
            })
            .collect();
        if !pieces.is_empty() {
            self.segments.push(Segment::Speech {
                pieces,
                prosody: self.prosody,
                sentence_end,
            });
        } else if sentence_end {
            // `…text<mark/></s>`: the sentence still ends after the text.
            for segment in self.segments.iter_mut().rev() {
                match segment {
                    Segment::Mark(_) => continue,
                    Segment::Speech { sentence_end, .. } => *sentence_end = true,
                    Segment::Break(_) => {}
                }
                break;
            }
        }
    }

    fn finish(mut self) -> Document {
        self.flush(true);
        Document {
            segments: self.segments,
            warnings: self.warnings,
        }
    }

    fn children(&mut self, node: Node, depth: usize) {
        for child in node.children() {
            self.node(child, depth + 1);
        }
    }

    /// Speaks `node`'s children at `prosody` (a segment of their own when it differs).
    fn with_prosody(&mut self, node: Node, depth: usize, prosody: Prosody) {
        if prosody == self.prosody {
            return self.children(node, depth);
        }
        self.flush(false);
        let outer = std::mem::replace(&mut self.prosody, prosody);
        self.children(node, depth);
        self.flush(false);
        self.prosody = outer;
    }

    fn node(&mut self, node: Node, depth: usize) {
        match node.node_type() {
            NodeType::Text => return self.text(node.text().unwrap_or_default()),
            NodeType::Element => {}
            _ => return,
        }
        if depth > MAX_DEPTH {
            self.warn(format!(
                "SSML nested deeper than {MAX_DEPTH} elements: the inner ones are read as text"
            ));
            return self.text(&descendant_text(node));
        }
        let name = node.tag_name().name();
        match name {
            "speak" => self.children(node, depth),
            "p" | "s" | "paragraph" | "sentence" => {
                self.flush(true);
                self.children(node, depth);
                self.flush(true);
            }
            "break" => self.brk(node),
            "mark" => match node.attribute("name") {
                Some(mark) => {
                    self.flush(false);
                    self.segments.push(Segment::Mark(mark.to_owned()));
                }
                None => self.warn("<mark> without a name: ignored"),
            },
            "prosody" => {
                let prosody = self.prosody_of(node);
                self.with_prosody(node, depth, prosody);
            }
            "emphasis" => {
                let level = node.attribute("level").unwrap_or("moderate");
                let factor = match level {
                    "strong" => 1.25,
                    "moderate" => 1.15,
                    "reduced" => 0.9,
                    "none" => 1.0,
                    other => {
                        self.warn(format!("unknown emphasis level {other:?}: moderate used"));
                        1.15
                    }
                };
                let prosody = Prosody {
                    length: clamp_length(self.prosody.length * factor),
                    ..self.prosody
                };
                self.with_prosody(node, depth, prosody);
            }
            "sub" => match node.attribute("alias") {
                Some(alias) => self.word(alias),
                None => {
                    self.warn("<sub> without an alias: its content is spoken");
                    self.children(node, depth);
                }
            },
            "say-as" => {
                let content = descendant_text(node);
                let interpret = node.attribute("interpret-as").unwrap_or_default();
                let format = node.attribute("format");
                match sayas::expand(interpret, format, &content) {
                    Ok(text) => self.word(&text),
                    Err(why) => {
                        self.warn(format!("say-as: {why}: spoken as written"));
                        self.text(&content);
                    }
                }
            }
            "phoneme" => self.phoneme(node),
            "metadata" | "meta" | "lexicon" | "desc" => {}
            "lang" | "voice" | "audio" => {
                self.warn(format!(
                    "<{name}> is not supported: ignored, its content is spoken with the voice"
                ));
                self.children(node, depth);
            }
            other => {
                self.warn(format!(
                    "<{other}> is not SSML this voice knows: ignored, its content is spoken"
                ));
                self.children(node, depth);
            }
        }
    }

    fn brk(&mut self, node: Node) {
        let seconds = match (node.attribute("time"), node.attribute("strength")) {
            (Some(time), _) => match parse_time(time) {
                Some(s) => s,
                None => {
                    self.warn(format!("<break time={time:?}>: not a time, medium used"));
                    break_strength("medium").unwrap_or_default()
                }
            },
            (None, Some(strength)) => break_strength(strength).unwrap_or_else(|| {
                self.warn(format!(
                    "<break strength={strength:?}>: unknown strength, medium used"
                ));
                break_strength("medium").unwrap_or_default()
            }),
            (None, None) => break_strength("medium").unwrap_or_default(),
        };
        let seconds = if seconds > MAX_BREAK_SECONDS {
            self.warn(format!(
                "a break of {seconds} s was cut to {MAX_BREAK_SECONDS} s"
            ));
            MAX_BREAK_SECONDS
        } else {
            seconds
        };
        self.flush(false);
        if seconds > 0.0 {
            self.segments.push(Segment::Break(seconds));
        }
    }

    fn prosody_of(&mut self, node: Node) -> Prosody {
        let mut prosody = self.prosody;
        if let Some(rate) = node.attribute("rate") {
            match parse_rate(rate) {
                Some(rate) => prosody.length = clamp_length(prosody.length / rate),
                None => self.warn(format!("prosody rate {rate:?} not understood: ignored")),
            }
        }
        if let Some(volume) = node.attribute("volume") {
            match parse_volume(volume) {
                Some(v) => prosody.volume = (prosody.volume * v).clamp(0.0, VOLUME_MAX),
                None => self.warn(format!("prosody volume {volume:?} not understood: ignored")),
            }
        }
        for ignored in ["pitch", "contour", "range"] {
            if node.attribute(ignored).is_some() {
                self.warn(format!(
                    "prosody {ignored} is not supported by the voice: ignored"
                ));
            }
        }
        if node.attribute("duration").is_some() {
            self.warn("prosody duration is not supported: ignored");
        }
        prosody
    }

    fn phoneme(&mut self, node: Node) {
        let text = descendant_text(node);
        let alphabet = node.attribute("alphabet").unwrap_or("ipa");
        match node.attribute("ph") {
            Some(ipa) if alphabet.eq_ignore_ascii_case("ipa") => {
                self.pieces.push(Piece::Phonemes {
                    ipa: ipa.to_owned(),
                    text: super::super::text::normalize(&text),
                });
            }
            Some(_) => {
                self.warn(format!(
                    "phoneme alphabet {alphabet:?} is not supported (only ipa): the content is \
                     spoken"
                ));
                self.text(&text);
            }
            None => {
                self.warn("<phoneme> without ph: the content is spoken");
                self.text(&text);
            }
        }
    }
}

fn clamp_length(length: f32) -> f32 {
    length.clamp(LENGTH_RANGE.0, LENGTH_RANGE.1)
}

/// All the text under `node`, in document order (iterative: no recursion).
fn descendant_text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// A number that is finite and not negative.
fn number(s: &str) -> Option<f32> {
    s.trim()
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// `1500ms`, `1.5s` (SSML times) in seconds.
pub(super) fn parse_time(time: &str) -> Option<f32> {
    let time = time.trim();
    if let Some(ms) = time.strip_suffix("ms") {
        number(ms).map(|v| v / 1000.0)
    } else {
        time.strip_suffix('s').and_then(number)
    }
}

/// A prosody rate as a speed factor (1: normal).
pub(super) fn parse_rate(rate: &str) -> Option<f32> {
    let rate = rate.trim();
    let named = match rate {
        "x-slow" => Some(0.5),
        "slow" => Some(0.75),
        "medium" | "default" => Some(1.0),
        "fast" => Some(1.25),
        "x-fast" => Some(1.75),
        _ => None,
    };
    let factor = named.or_else(|| {
        if let Some(percent) = rate.strip_suffix('%') {
            if let Some(up) = percent.strip_prefix('+') {
                number(up).map(|v| 1.0 + v / 100.0)
            } else if let Some(down) = percent.strip_prefix('-') {
                number(down).map(|v| 1.0 - v / 100.0)
            } else {
                number(percent).map(|v| v / 100.0)
            }
        } else {
            number(rate)
        }
    })?;
    (factor > 0.0).then_some(factor)
}

/// A prosody volume as a linear gain (1: unchanged).
pub(super) fn parse_volume(volume: &str) -> Option<f32> {
    let volume = volume.trim();
    let db = |db: f32| 10f32.powf(db / 20.0);
    match volume {
        "silent" => return Some(0.0),
        "x-soft" => return Some(db(-12.0)),
        "soft" => return Some(db(-6.0)),
        "medium" | "default" => return Some(1.0),
        "loud" => return Some(db(3.0)),
        "x-loud" => return Some(db(6.0)),
        _ => {}
    }
    if let Some(value) = volume
        .strip_suffix("dB")
        .or_else(|| volume.strip_suffix("db"))
    {
        let value = value.trim();
        let signed = match value.strip_prefix('-') {
            Some(v) => -number(v)?,
            None => number(value.strip_prefix('+').unwrap_or(value))?,
        };
        return Some(db(signed.min(24.0)));
    }
    if let Some(percent) = volume.strip_suffix('%') {
        return number(percent).map(|v| v / 100.0);
    }
    None
}

#[cfg(test)]
mod tests;
