// SPDX-License-Identifier: MPL-2.0
//! A [`Document`] to the steps a voice takes: model runs (the ids of the ordinary front end,
//! with the `phoneme` elements' IPA mapped directly), silences and marks. Needs the voice's
//! configuration and a phonemizer, not the model.
//!
//! Text goes through the same front end as plain text ([`text::sentences`], the phonemizer,
//! [`ids::clause_phonemes`], NFD, [`ids::phonemes_to_ids`]): a document that is only text gives
//! exactly the ids [`text_to_ids`](crate::tts::text_to_ids) gives for that text. A sentence that
//! a `phoneme` element sits in stays one run: the pieces' phonemes are joined by a space (a word
//! boundary).

use unicode_normalization::UnicodeNormalization;

use super::{Document, Piece, Prosody, Segment, Warning};
use crate::error::Result;
use crate::tts::text::{self, MAX_SENTENCE_CHARS};
use crate::tts::{ChunkIds, Chunking, Phonemizer, VoiceConfig, ids};

/// One step of speaking a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// One model run at a prosody.
    Run { ids: ChunkIds, prosody: Prosody },
    /// Silence, in seconds.
    Silence(f32),
    /// A named point in time.
    Mark(String),
}

/// The steps of a whole document, and warnings about `phoneme` symbols the voice lacks (the
/// document's own warnings are in [`Document::warnings`]).
pub fn plan(
    document: &Document,
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
    chunking: Chunking,
) -> Result<(Vec<Step>, Vec<Warning>)> {
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    for segment in &document.segments {
        plan_segment(
            segment,
            config,
            phonemizer,
            chunking,
            &mut steps,
            &mut warnings,
        )?;
    }
    Ok((steps, warnings))
}

/// The steps of one segment, appended to `steps` (warnings to `warnings`, each once).
pub fn plan_segment(
    segment: &Segment,
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
    chunking: Chunking,
    steps: &mut Vec<Step>,
    warnings: &mut Vec<Warning>,
) -> Result<()> {
    match segment {
        Segment::Break(seconds) => steps.push(Step::Silence(*seconds)),
        Segment::Mark(name) => steps.push(Step::Mark(name.clone())),
        Segment::Speech {
            pieces,
            prosody,
            sentence_end,
        } => {
            let mut runs = Runs {
                config,
                prosody: *prosody,
                steps,
                current: Run::default(),
            };
            for piece in pieces {
                match piece {
                    Piece::Text(t) => runs.text(t, config, phonemizer, chunking)?,
                    Piece::Phonemes { ipa, text } => {
                        let (ipa, missing) = prepare_ipa(ipa, config);
                        if !missing.is_empty() {
                            let warning = Warning {
                                message: format!(
                                    "phoneme ph={ipa:?}: symbols the voice lacks were skipped: \
                                     {missing}"
                                ),
                                malformed: false,
                            };
                            if !warnings.contains(&warning) {
                                warnings.push(warning);
                            }
                        }
                        runs.phonemes(&ipa, text);
                    }
                }
            }
            runs.close(*sentence_end);
        }
    }
    Ok(())
}

/// The IPA of a `phoneme` element as the id map reads it (whitespace collapsed, `.` syllable
/// breaks dropped, ASCII `g` as `ɡ`), and the symbols the voice lacks.
fn prepare_ipa(ipa: &str, config: &VoiceConfig) -> (String, String) {
    let words: Vec<String> = ipa
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|&c| c != '.')
                .map(|c| if c == 'g' { 'ɡ' } else { c })
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let ipa = words.join(" ");
    let mut missing = String::new();
    for c in ipa.nfd() {
        if config.ids(c).is_none() && !missing.contains(c) {
            if !missing.is_empty() {
                missing.push(' ');
            }
            missing.push(c);
        }
    }
    (ipa, missing)
}

#[derive(Default)]
struct Run {
    phonemes: String,
    text: String,
    /// The next piece starts a new word (a space goes before its phonemes).
    piece_boundary: bool,
}

struct Runs<'a> {
    config: &'a VoiceConfig,
    prosody: Prosody,
    steps: &'a mut Vec<Step>,
    current: Run,
}

impl Runs<'_> {
    fn push(&mut self, phonemes: &str, text: &str) {
        let run = &mut self.current;
        if std::mem::take(&mut run.piece_boundary)
            && !run.phonemes.is_empty()
            && !run.phonemes.ends_with(' ')
        {
            run.phonemes.push(' ');
        }
        run.phonemes.push_str(phonemes);
        let text = text.trim();
        if !text.is_empty() {
            if !run.text.is_empty() {
                run.text.push(' ');
            }
            run.text.push_str(text);
        }
    }

    /// Text through the ordinary front end; its last sentence stays open when it has no final
    /// punctuation (the next piece continues it).
    fn text(
        &mut self,
        t: &str,
        config: &VoiceConfig,
        phonemizer: &dyn Phonemizer,
        chunking: Chunking,
    ) -> Result<()> {
        let sentences = text::sentences(t);
        let count = sentences.len();
        for (i, sentence) in sentences.into_iter().enumerate() {
            let last_sentence = i + 1 == count;
            let ends = sentence.clauses.last().is_some_and(|c| c.ends_sentence());
            let clauses = sentence.clauses.len();
            for (j, clause) in sentence.clauses.iter().enumerate() {
                self.make_room();
                let raw = phonemizer.phonemize(&config.espeak_voice, &clause.text)?;
                self.push(&ids::clause_phonemes(&raw, clause.terminator), &clause.text);
                let last_clause = j + 1 == clauses;
                if chunking == Chunking::Clause && (!last_clause || !last_sentence || ends) {
                    self.close(last_clause);
                }
            }
            if !last_sentence || ends {
                self.close(true);
            }
        }
        self.current.piece_boundary = true;
        Ok(())
    }

    /// IPA, word by word (a run is cut between words when it gets too long, and a word longer
    /// than a run may be is cut too).
    fn phonemes(&mut self, ipa: &str, text: &str) {
        let mut text = Some(text);
        for word in ipa.split(' ') {
            let chars: Vec<char> = word.chars().collect();
            for part in chars.chunks(2 * MAX_SENTENCE_CHARS) {
                self.make_room();
                self.current.piece_boundary = true;
                let part: String = part.iter().collect();
                self.push(&part, text.take().unwrap_or_default());
            }
        }
        self.current.piece_boundary = true;
    }

    /// Closes the run when it is already as long as a sentence may be (pieces joined into one
    /// sentence are bounded like plain text).
    fn make_room(&mut self) {
        if self.current.text.chars().count() > MAX_SENTENCE_CHARS
            || self.current.phonemes.chars().count() > 2 * MAX_SENTENCE_CHARS
        {
            self.close(false);
        }
    }

    /// Ends the run; a run without any phoneme the voice knows is left out.
    fn close(&mut self, sentence_end: bool) {
        let run = std::mem::take(&mut self.current);
        if run.phonemes.is_empty() {
            return;
        }
        let phonemes: String = run.phonemes.nfd().collect();
        let ids = ids::phonemes_to_ids(&phonemes, self.config);
        if ids.mapped == 0 {
            return;
        }
        self.steps.push(Step::Run {
            ids: ChunkIds {
                text: run.text,
                phonemes,
                ids,
                sentence_end,
                // SSML runs carry no word marks (yet): their text is not the source's.
                words: Vec::new(),
            },
            prosody: self.prosody,
        });
    }
}
