// SPDX-License-Identifier: GPL-3.0-or-later
//! Speech marks shared by `neuralttssrc` and `neuraltts`: the `speech-marks` flags, the
//! `speech-marks-available` property, and the `neuraltts-word` / `neuraltts-viseme` element
//! messages (the core computes the marks, see `neural_media::tts::marks`).

use gst::glib;
use gst::prelude::*;
use neural_media::tts::{Speech, VisemeMark, Voice, WordMark};

use crate::output::Timeline;

/// Which marks an element posts.
#[glib::flags(name = "GstNmNeuralTtsSpeechMarks")]
pub enum SpeechMarks {
    #[flags_value(
        name = "Sentence: neuraltts-sentence for each sentence (or clause)",
        nick = "sentence"
    )]
    SENTENCE = 0b0001,
    #[flags_value(
        name = "Word: neuraltts-word for each word (needs a voice with durations)",
        nick = "word"
    )]
    WORD = 0b0010,
    #[flags_value(
        name = "Viseme: neuraltts-viseme for each mouth shape (needs a voice with durations)",
        nick = "viseme"
    )]
    VISEME = 0b0100,
    #[flags_value(name = "SSML: neuraltts-mark for each SSML <mark>", nick = "ssml")]
    SSML = 0b1000,
}

/// The default: sentences and words.
pub const DEFAULT_SPEECH_MARKS: SpeechMarks = SpeechMarks::SENTENCE.union(SpeechMarks::WORD);

/// The two properties both elements have.
pub fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecFlags::builder::<SpeechMarks>("speech-marks")
            .nick("Speech marks")
            .blurb(
                "Element messages to post: neuraltts-sentence, neuraltts-word, neuraltts-viseme \
                 (words and visemes need a voice with phoneme durations), neuraltts-mark (SSML)",
            )
            .default_value(DEFAULT_SPEECH_MARKS)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("speech-marks-available")
            .nick("Speech marks available")
            .blurb(
                "Whether the loaded voice gives phoneme durations, needed for word and viseme \
                 marks (scripts/piper-add-durations.py adds them to any Piper voice)",
            )
            .default_value(false)
            .read_only()
            .build(),
    ]
}

/// Logs once, when a voice is loaded, whether it can give word and viseme marks.
pub fn log_availability(cat: gst::DebugCategory, element: &gst::Element, voice: &Voice) {
    if voice.has_durations() {
        gst::debug!(
            cat,
            obj = element,
            "the voice gives phoneme durations: speech marks available"
        );
    } else {
        gst::debug!(
            cat,
            obj = element,
            "the voice {} has no phoneme durations output: no word or viseme marks \
             (scripts/piper-add-durations.py adds it)",
            voice.model_path().display()
        );
    }
}

/// Moves word offsets in a chunk's text to the source's, with the chunk's `offsets` (one per
/// byte of the chunk's text, its length included: `SourceCursor::locate`).
pub fn remap_words(words: &mut [WordMark], offsets: &[usize]) {
    let Some(last) = offsets.len().checked_sub(1) else {
        return;
    };
    for word in words {
        word.start = offsets[word.start.min(last)];
        word.end = offsets[word.end.min(last)];
    }
}

fn message(element: &gst::Element, structure: gst::Structure) -> gst::Message {
    gst::message::Element::builder(structure)
        .src(element)
        .build()
}

/// The `neuraltts-word` message of `word`, spoken at `pts` for `duration`, in the `sentence`-th
/// sentence; `start`/`end` are byte offsets in the source text.
pub fn word_message(
    element: &gst::Element,
    word: &WordMark,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
    sentence: u64,
) -> gst::Message {
    message(
        element,
        gst::Structure::builder("neuraltts-word")
            .field("text", word.text.as_str())
            .field("start", word.start as u64)
            .field("end", word.end as u64)
            .field("pts", pts.nseconds())
            .field("duration", duration.nseconds())
            .field("sentence", sentence)
            .build(),
    )
}

/// The `neuraltts-viseme` message of `viseme`, shown at `pts` for `duration`.
pub fn viseme_message(
    element: &gst::Element,
    viseme: &VisemeMark,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
) -> gst::Message {
    message(
        element,
        gst::Structure::builder("neuraltts-viseme")
            .field("viseme", viseme.viseme)
            .field("pts", pts.nseconds())
            .field("duration", duration.nseconds())
            .build(),
    )
}

/// A word placed on the output: its mark, its times and its sentence's index.
#[derive(Debug, Clone)]
pub struct TimedWord {
    pub word: WordMark,
    pub pts: gst::ClockTime,
    pub duration: gst::ClockTime,
    pub sentence: u64,
}

/// The words of `speech` placed at sample `start` of `timeline`; `first_sentence` is the index
/// of its first chunk.
pub fn timed_words(
    speech: &Speech,
    timeline: &Timeline,
    start: u64,
    first_sentence: u64,
) -> Vec<TimedWord> {
    speech
        .words
        .iter()
        .map(|(chunk, word)| {
            let at = start + word.sample as u64;
            let pts = timeline.time_of(at);
            TimedWord {
                word: word.clone(),
                pts,
                duration: timeline.time_of(at + word.len as u64) - pts,
                sentence: first_sentence + *chunk as u64,
            }
        })
        .collect()
}

/// The word and viseme messages `marks` asks for, of `speech` placed at sample `start`.
pub fn speech_messages(
    element: &gst::Element,
    marks: SpeechMarks,
    speech: &Speech,
    words: &[TimedWord],
    timeline: &Timeline,
    start: u64,
) -> Vec<gst::Message> {
    let mut messages = Vec::new();
    if marks.contains(SpeechMarks::WORD) {
        messages.extend(
            words
                .iter()
                .map(|w| word_message(element, &w.word, w.pts, w.duration, w.sentence)),
        );
    }
    if marks.contains(SpeechMarks::VISEME) {
        messages.extend(speech.visemes.iter().map(|v| {
            let at = start + v.sample as u64;
            let pts = timeline.time_of(at);
            viseme_message(element, v, pts, timeline.time_of(at + v.len as u64) - pts)
        }));
    }
    messages
}
