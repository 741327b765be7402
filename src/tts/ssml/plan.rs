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
//!
//! When the voice gives phoneme durations ([`Voice::has_durations`](crate::tts::Voice::has_durations)),
//! a `break` or `mark` inside a sentence does not cut it: the sentence stays one run, and the
//! break or mark is recorded in the run at the word boundary where it sits (the id index of the
//! separator between the two phoneme words); the voice inserts the silence, or places the mark,
//! at the sample the durations give for that id ([`Voice::synthesize_ssml_run`](crate::tts::Voice::synthesize_ssml_run)).
//! A prosody change still cuts the sentence into runs. Without durations, a `break` or `mark`
//! cuts the sentence too.

use unicode_normalization::UnicodeNormalization;

use super::{Document, Piece, Prosody, Segment, Warning};
use crate::error::Result;
use crate::tts::text::{self, MAX_SENTENCE_CHARS};
use crate::tts::{ChunkIds, Chunking, Phonemizer, VoiceConfig, ids, marks};

/// One step of speaking a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// One model run at a prosody. `inside` are the breaks ([`Step::Silence`]) and marks
    /// ([`Step::Mark`]) within the run, in order, each with the index of the id it stands before
    /// (the first id of the separator between two phoneme words); empty unless planned with
    /// durations.
    Run {
        ids: ChunkIds,
        prosody: Prosody,
        inside: Vec<(usize, Step)>,
    },
    /// Silence, in seconds.
    Silence(f32),
    /// A named point in time.
    Mark(String),
}

/// The steps of a whole document, and warnings about `phoneme` symbols the voice lacks (the
/// document's own warnings are in [`Document::warnings`]). `durations`: the voice gives phoneme
/// durations, so breaks and marks inside a sentence stay inside its run (see the module
/// documentation).
pub fn plan(
    document: &Document,
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
    chunking: Chunking,
    durations: bool,
) -> Result<(Vec<Step>, Vec<Warning>)> {
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let mut rest = &document.segments[..];
    while !rest.is_empty() {
        let (group, after) = rest.split_at(sentence_len(rest));
        plan_segments(
            group,
            config,
            phonemizer,
            chunking,
            durations,
            &mut steps,
            &mut warnings,
        )?;
        rest = after;
    }
    Ok((steps, warnings))
}

/// How many of the first `segments` make one sentence: up to the first speech that ends a
/// sentence (at least one segment, unless there are none). [`plan_segments`] plans them together.
pub fn sentence_len<'a>(segments: impl IntoIterator<Item = &'a Segment>) -> usize {
    let mut count = 0;
    for segment in segments {
        count += 1;
        if matches!(
            segment,
            Segment::Speech {
                sentence_end: true,
                ..
            }
        ) {
            break;
        }
    }
    count
}

/// The steps of consecutive segments (best a whole sentence, see [`sentence_len`]), appended to
/// `steps` (warnings to `warnings`, each once). With `durations`, breaks and marks between
/// speech of the same prosody stay inside its run.
pub fn plan_segments(
    segments: &[Segment],
    config: &VoiceConfig,
    phonemizer: &dyn Phonemizer,
    chunking: Chunking,
    durations: bool,
    steps: &mut Vec<Step>,
    warnings: &mut Vec<Warning>,
) -> Result<()> {
    let mut runs = Runs {
        config,
        prosody: Prosody::default(),
        steps,
        current: Run::default(),
    };
    for segment in segments {
        plan_segment(
            segment, &mut runs, phonemizer, chunking, durations, warnings,
        )?;
    }
    runs.close(false);
    Ok(())
}

fn plan_segment(
    segment: &Segment,
    runs: &mut Runs<'_>,
    phonemizer: &dyn Phonemizer,
    chunking: Chunking,
    durations: bool,
    warnings: &mut Vec<Warning>,
) -> Result<()> {
    let config = runs.config;
    match segment {
        Segment::Break(seconds) => runs.point(Step::Silence(*seconds)),
        Segment::Mark(name) => runs.point(Step::Mark(name.clone())),
        Segment::Speech {
            pieces,
            prosody,
            sentence_end,
        } => {
            if *prosody != runs.prosody {
                runs.close(false);
                runs.prosody = *prosody;
            }
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
            if *sentence_end || !durations {
                runs.close(*sentence_end);
            }
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
    /// Breaks and marks within the run, at the index of the phoneme (NFD code point) they stand
    /// before.
    inside: Vec<(usize, Step)>,
}

struct Runs<'a> {
    config: &'a VoiceConfig,
    prosody: Prosody,
    steps: &'a mut Vec<Step>,
    current: Run,
}

impl Runs<'_> {
    /// A break or mark: inside the open run (where its next word starts), or a step of its own
    /// when no run is open.
    fn point(&mut self, step: Step) {
        let run = &mut self.current;
        if run.phonemes.is_empty() {
            self.steps.push(step);
        } else {
            let at = run.phonemes.nfd().count();
            run.inside.push((at, step));
            // What follows is a new word.
            run.piece_boundary = true;
        }
    }

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

    /// Ends the run; a run without any phoneme the voice knows is left out (its breaks and
    /// marks are steps of their own). Breaks and marks after the run's last phoneme follow it as
    /// steps.
    fn close(&mut self, sentence_end: bool) {
        let run = std::mem::take(&mut self.current);
        let phonemes: String = run.phonemes.nfd().collect();
        let ids = ids::phonemes_to_ids(&phonemes, self.config);
        if run.phonemes.is_empty() || ids.mapped == 0 {
            self.steps
                .extend(run.inside.into_iter().map(|(_, step)| step));
            return;
        }
        let ranges = marks::id_ranges(&phonemes, self.config);
        let (inside, after): (Vec<_>, Vec<_>) = run
            .inside
            .into_iter()
            .partition(|(at, _)| *at < ranges.len());
        let inside = inside
            .into_iter()
            .map(|(at, step)| (ranges[at].0, step))
            .collect();
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
            inside,
        });
        self.steps.extend(after.into_iter().map(|(_, step)| step));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::ssml::parse;

    fn config() -> VoiceConfig {
        VoiceConfig::parse(
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "x"},
                "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [4], "b": [5],
                                   ".": [7]}}"#,
        )
        .unwrap()
    }

    /// Each word is its letters `a` and `b`.
    struct Letters;
    impl Phonemizer for Letters {
        fn phonemize(&self, _voice: &str, text: &str) -> Result<String> {
            Ok(text
                .split_whitespace()
                .map(|w| {
                    w.chars()
                        .filter(|c| matches!(c, 'a' | 'b'))
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(" "))
        }
    }

    fn steps(document: &str, durations: bool) -> Vec<Step> {
        let doc = parse(document);
        plan(&doc, &config(), &Letters, Chunking::Sentence, durations)
            .unwrap()
            .0
    }

    #[test]
    fn breaks_and_marks_inside_a_sentence_stay_in_its_run_with_durations() {
        let document = "<speak>ab <break time=\"1s\"/>ba <mark name=\"m\"/>a. \
                        <mark name=\"end\"/>b.</speak>";
        let joined = steps(document, true);
        let whole = steps("<speak>ab ba a.</speak>", true);
        let [
            Step::Run { ids, inside, .. },
            Step::Mark(end),
            Step::Run { ids: last, .. },
        ] = joined.as_slice()
        else {
            panic!("{joined:?}");
        };
        // The ids of the text without the break and mark; both sit on the spaces.
        let Step::Run { ids: plain, .. } = &whole[0] else {
            panic!("{whole:?}");
        };
        assert_eq!(ids.ids, plain.ids);
        // ^ _ a _ b _ ' ' _ b _ a _ ' ' _ a _ . _ $
        assert_eq!(
            inside,
            &[(6, Step::Silence(1.0)), (12, Step::Mark("m".into()))]
        );
        assert_eq!(ids.ids.ids[6], 3);
        assert_eq!(ids.ids.ids[12], 3);
        assert_eq!(end, "end");
        assert_eq!(last.phonemes, "b.");
        // Without durations: cut into runs, as before.
        let cut = steps(document, false);
        assert!(matches!(
            cut.as_slice(),
            [
                Step::Run { .. },
                Step::Silence(_),
                Step::Run { .. },
                Step::Mark(_),
                Step::Run { .. },
                Step::Mark(_),
                Step::Run { .. }
            ]
        ));
        assert!(
            cut.iter()
                .all(|s| !matches!(s, Step::Run { inside, .. } if !inside.is_empty()))
        );
    }

    #[test]
    fn a_prosody_change_still_cuts_and_points_at_the_ends_are_steps() {
        let joined = steps(
            "<speak><mark name=\"a\"/>ab <prosody rate=\"slow\">ba</prosody> \
             <break time=\"1s\"/>b.</speak>",
            true,
        );
        let kinds: Vec<_> = joined
            .iter()
            .map(|s| match s {
                Step::Run { inside, .. } => format!("run{}", inside.len()),
                Step::Silence(_) => "silence".into(),
                Step::Mark(_) => "mark".into(),
            })
            .collect();
        // The break sits where the prosody changes back: between runs.
        assert_eq!(kinds, ["mark", "run0", "run0", "silence", "run0"]);
    }
}
