// SPDX-License-Identifier: MPL-2.0
//! Cue scheduling for timed text, in samples: where each cue's speech goes in one continuous
//! output that starts at sample 0.
//!
//! A [`Schedule`] keeps what has been emitted (`pushed`), the speech placed but held back (only
//! [`Overflow::Overlap`] holds any: the part past its cue's end waits for the next cue, to be
//! mixed with it) and where the last timed cue ends. [`Schedule::add`] places one cue's
//! [`Speech`] and returns the [`Block`]s that are ready, speech and the silence before it;
//! [`Schedule::advance_to`] emits up to a sample (a GAP, EOS, a new segment). Silence comes in
//! blocks of at most a fixed length, flagged [`Block::gap`].
//!
//! The policies when speech is longer than its cue ([`Overflow`]): `clip` cuts it at the cue
//! end; `shift` lets it run on and starts the next cue after it; `overlap` lets it run on and
//! mixes the next cue in at its own time; `fit` is `shift` once the voice has re-synthesised the
//! speech faster ([`Voice::synthesize_to_fit`](super::Voice::synthesize_to_fit)). A cue without a
//! duration is always shifted. Trailing sentence silence never delays the next cue.
//!
//! With a live input, a floor (the first sample that can still be played on time) moves late
//! speech up to it, and the silence before it that could not be played is skipped: the next
//! block is then [`Block::discont`].

use super::Chunk;
use super::marks::{VisemeMark, WordMark};

/// What to do when a cue's speech is longer than the cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Cut the speech at the end of the cue.
    Clip,
    /// Let the speech run on, delaying the cues that follow.
    Shift,
    /// Let the speech run on, mixed with the next cue at its own time.
    Overlap,
    /// Speak faster to fit the cue, then shift.
    #[default]
    Fit,
}

impl Overflow {
    /// The policy that applies to `cue`: a cue without a duration is shifted.
    pub fn for_cue(self, cue: &Cue) -> Overflow {
        if cue.len.is_some() {
            self
        } else {
            Overflow::Shift
        }
    }
}

/// Where a cue sits, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cue {
    /// First sample (`None`: right after what came before).
    pub start: Option<u64>,
    /// Length (`None`: no duration; only given with a start).
    pub len: Option<usize>,
}

impl Cue {
    /// The sample the cue ends at, when it has a start and a duration.
    pub fn end(&self) -> Option<u64> {
        Some(self.start? + self.len? as u64)
    }
}

/// One chunk (sentence or clause) of a cue's speech.
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenChunk {
    /// The chunk's text.
    pub text: String,
    /// First sample within the [`Speech`].
    pub start: usize,
    /// Length in samples (sentence silence included).
    pub len: usize,
    /// Real-time factor of its synthesis.
    pub rtf: f64,
}

/// One cue's synthesised speech: its chunks one after the other.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Speech {
    /// Mono samples at the voice's rate.
    pub samples: Vec<f32>,
    /// Where each chunk lies in `samples`.
    pub chunks: Vec<SpokenChunk>,
    /// Sentence silence at the end of `samples`.
    pub trailing_silence: usize,
    /// Seconds spent in the model, every attempt included.
    pub infer_seconds: f64,
    /// Word marks, samples from the speech's start, with the index of their chunk.
    pub words: Vec<(usize, WordMark)>,
    /// Viseme marks, samples from the speech's start.
    pub visemes: Vec<VisemeMark>,
    /// Whether the chunks carried marks (the voice has durations).
    pub has_marks: bool,
}

impl Speech {
    /// Appends a chunk; `silence` is the sentence silence a sentence-ending chunk ends with.
    pub fn push(&mut self, chunk: Chunk, silence: usize) {
        let len = chunk.samples.len();
        let start = self.samples.len();
        if let Some(marks) = chunk.marks {
            self.has_marks = true;
            let index = self.chunks.len();
            self.words.extend(marks.words.into_iter().map(|mut w| {
                w.sample += start;
                (index, w)
            }));
            self.visemes.extend(marks.visemes.into_iter().map(|mut v| {
                v.sample += start;
                v
            }));
        }
        self.chunks.push(SpokenChunk {
            text: chunk.text,
            start: self.samples.len(),
            len,
            rtf: chunk.stats.rtf,
        });
        self.trailing_silence = if chunk.sentence_end {
            silence.min(len)
        } else {
            0
        };
        self.samples.extend_from_slice(&chunk.samples);
        self.infer_seconds += chunk.stats.infer_seconds;
    }

    /// Samples up to the end of the last word.
    pub fn voiced_len(&self) -> usize {
        self.samples.len() - self.trailing_silence.min(self.samples.len())
    }

    /// Cuts the speech (and its chunks) to `len` samples.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.samples.len() {
            return;
        }
        let cut = self.samples.len() - len;
        self.samples.truncate(len);
        self.trailing_silence = self.trailing_silence.saturating_sub(cut);
        self.chunks.retain(|c| c.start < len);
        for chunk in &mut self.chunks {
            chunk.len = chunk.len.min(len - chunk.start);
        }
        // A word or viseme cut by the end keeps the part that is left.
        self.words.retain(|(_, w)| w.sample < len);
        for (_, word) in &mut self.words {
            word.len = word.len.min(len - word.sample);
        }
        self.visemes.retain(|v| v.sample < len);
        for viseme in &mut self.visemes {
            viseme.len = viseme.len.min(len - viseme.sample);
        }
    }

    /// Applies a cue's duration `len`: sentence silence past it is dropped, and with
    /// [`Overflow::Clip`] speech too.
    pub fn limit_to_cue(&mut self, len: Option<usize>, overflow: Overflow) {
        if let Some(len) = len {
            let keep = if overflow == Overflow::Clip {
                len
            } else {
                len.max(self.voiced_len())
            };
            self.truncate(keep);
        }
    }
}

/// A stretch of output: speech, or silence between cues.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// First sample.
    pub offset: u64,
    /// The samples (zeros for silence).
    pub samples: Vec<f32>,
    /// Silence between cues.
    pub gap: bool,
    /// The output restarted or skipped ahead before this block.
    pub discont: bool,
}

impl Block {
    /// The sample after the block.
    pub fn end(&self) -> u64 {
        self.offset + self.samples.len() as u64
    }
}

/// Where [`Schedule::add`] put a cue's speech, and what is ready to go out.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// First sample of the speech.
    pub start: u64,
    /// Where it would have started without the live floor: `start > planned` means late.
    pub planned: u64,
    /// The output that is ready, in order.
    pub blocks: Vec<Block>,
}

/// The output of one stream of cues, in samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Samples emitted.
    pushed: u64,
    /// Speech from `pushed` on that is not emitted yet (held back by `overlap` only).
    tail: Vec<f32>,
    /// End of the last cue with a duration: the output reaches at least there.
    cues_end: u64,
    /// Whether the next block starts a new run.
    discont: bool,
    /// Longest silence block.
    silence_block: usize,
}

impl Schedule {
    /// An empty schedule whose silence comes in blocks of at most `silence_block` samples; its
    /// first block is a discont.
    pub fn new(silence_block: usize) -> Schedule {
        Schedule {
            pushed: 0,
            tail: Vec::new(),
            cues_end: 0,
            discont: true,
            silence_block: silence_block.max(1),
        }
    }

    /// Samples emitted so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Where the speech placed so far ends.
    pub fn scheduled_end(&self) -> u64 {
        self.pushed + self.tail.len() as u64
    }

    /// Where the output must reach before it ends: the end of the speech, or of the last cue if
    /// that is later.
    pub fn stream_end(&self) -> u64 {
        self.scheduled_end().max(self.cues_end)
    }

    /// Starts again from sample 0 (a new segment), the next block a discont. Speech held back
    /// stays.
    pub fn restart(&mut self) {
        self.pushed = 0;
        self.cues_end = 0;
        self.discont = true;
    }

    /// Drops the speech held back and starts again from sample 0 (a flush).
    pub fn flush(&mut self) {
        self.tail.clear();
        self.restart();
    }

    /// Notes a cue, so that the output covers it even if it says nothing.
    pub fn mark_cue(&mut self, cue: &Cue) {
        if let Some(end) = cue.end() {
            self.cues_end = self.cues_end.max(end);
        }
    }

    /// Emits the output up to sample `until`: the held speech first, then silence.
    pub fn advance_to(&mut self, until: u64, out: &mut Vec<Block>) {
        if until <= self.pushed {
            return;
        }
        let from_tail = (self.tail.len() as u64).min(until - self.pushed) as usize;
        if from_tail > 0 {
            let speech: Vec<f32> = self.tail.drain(..from_tail).collect();
            out.push(self.emit(speech, false));
        }
        while self.pushed < until {
            let n = (until - self.pushed).min(self.silence_block as u64) as usize;
            out.push(self.emit(vec![0.0; n], true));
        }
    }

    /// Places `speech` (already limited to the cue, see [`Speech::limit_to_cue`]) for `cue`
    /// under `overflow` (as given by [`Overflow::for_cue`]). `floor`, with a live input, is the
    /// first sample that can still be played: later speech is moved up to it and the silence
    /// before it skipped.
    pub fn add(
        &mut self,
        speech: Vec<f32>,
        cue: &Cue,
        overflow: Overflow,
        floor: Option<u64>,
    ) -> Placed {
        let end = self.scheduled_end();
        let planned = match (cue.start, overflow) {
            (None, _) => end,
            (Some(at), Overflow::Overlap) => at.max(self.pushed),
            (Some(at), _) => at.max(end),
        };
        let mut start = planned;
        if let Some(floor) = floor {
            start = start.max(floor);
            if self.tail.is_empty() && self.pushed < floor {
                // The silence before the floor could not be played anyway.
                self.pushed = floor;
                self.discont = true;
            }
        }
        let mut blocks = Vec::new();
        if start >= end {
            self.advance_to(start, &mut blocks);
            self.tail = speech;
        } else {
            // overlap: mix into the speech held back.
            let offset = start.saturating_sub(self.pushed) as usize;
            let needed = offset + speech.len();
            if self.tail.len() < needed {
                self.tail.resize(needed, 0.0);
            }
            for (held, new) in self.tail[offset..].iter_mut().zip(&speech) {
                *held += new;
            }
        }
        let commit = match (overflow, cue.end()) {
            (Overflow::Overlap, Some(cue_end)) => cue_end.min(self.scheduled_end()),
            _ => self.scheduled_end(),
        };
        self.advance_to(commit, &mut blocks);
        Placed {
            start,
            planned,
            blocks,
        }
    }

    fn emit(&mut self, samples: Vec<f32>, gap: bool) -> Block {
        let block = Block {
            offset: self.pushed,
            samples,
            gap,
            discont: std::mem::take(&mut self.discont),
        };
        self.pushed = block.end();
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::SynthStats;

    /// (offset, length, gap, discont) of each block.
    fn layout(blocks: &[Block]) -> Vec<(u64, usize, bool, bool)> {
        blocks
            .iter()
            .map(|b| (b.offset, b.samples.len(), b.gap, b.discont))
            .collect()
    }

    fn cue(start: u64, len: usize) -> Cue {
        Cue {
            start: Some(start),
            len: Some(len),
        }
    }

    /// A chunk of `voiced` samples of 0.5 then `silence` zeros.
    fn chunk(text: &str, voiced: usize, silence: usize, sentence_end: bool) -> Chunk {
        let mut samples = vec![0.5; voiced];
        samples.resize(voiced + silence, 0.0);
        Chunk {
            text: text.into(),
            samples,
            sample_rate: 100,
            sentence_end,
            dropped_phonemes: 0,
            stats: SynthStats::new(0.25, 0.5),
            marks: None,
        }
    }

    /// One sentence: `voiced` samples, then `silence` samples of sentence silence.
    fn speech(voiced: usize, silence: usize) -> Speech {
        let mut speech = Speech::default();
        speech.push(chunk("a.", voiced, silence, true), silence);
        speech
    }

    #[test]
    fn speech_records_chunks_and_trailing_silence() {
        assert_eq!(speech(30, 10).voiced_len(), 30);
        let mut s = speech(30, 10);
        s.push(chunk("b,", 20, 0, false), 10);
        assert_eq!(s.samples.len(), 60);
        assert_eq!(s.trailing_silence, 0, "a clause ends without silence");
        assert_eq!(s.voiced_len(), 60);
        assert_eq!(s.chunks[1].text, "b,");
        assert_eq!((s.chunks[1].start, s.chunks[1].len), (40, 20));
        assert_eq!(s.chunks[1].rtf, 0.5);
        assert_eq!(s.infer_seconds, 0.5);
    }

    #[test]
    fn truncation_cuts_chunks_and_silence() {
        let mut s = speech(30, 10);
        s.push(chunk("b.", 20, 10, true), 10);
        s.truncate(65);
        assert_eq!((s.samples.len(), s.trailing_silence), (65, 5));
        s.truncate(45);
        assert_eq!(s.samples.len(), 45);
        assert_eq!(s.trailing_silence, 0);
        assert_eq!(s.chunks.len(), 2);
        assert_eq!((s.chunks[1].start, s.chunks[1].len), (40, 5));
        s.truncate(35);
        assert_eq!(s.chunks.len(), 1);
        assert_eq!(s.chunks[0].len, 35);
        s.truncate(100);
        assert_eq!(s.samples.len(), 35, "never grows");
    }

    #[test]
    fn limit_to_cue_per_policy() {
        // Speech shorter than its cue keeps its silence up to the cue end.
        let mut s = speech(30, 20);
        s.limit_to_cue(Some(40), Overflow::Shift);
        assert_eq!((s.samples.len(), s.trailing_silence), (40, 10));
        // Longer: the silence goes, the voice stays (shift, overlap, fit) …
        for overflow in [Overflow::Shift, Overflow::Overlap, Overflow::Fit] {
            let mut s = speech(30, 20);
            s.limit_to_cue(Some(25), overflow);
            assert_eq!(
                (s.samples.len(), s.trailing_silence),
                (30, 0),
                "{overflow:?}"
            );
        }
        // … or is cut too (clip).
        let mut s = speech(30, 20);
        s.limit_to_cue(Some(25), Overflow::Clip);
        assert_eq!(s.samples.len(), 25);
        // Without a duration nothing is cut.
        let mut s = speech(30, 20);
        s.limit_to_cue(None, Overflow::Clip);
        assert_eq!(s.samples.len(), 50);
    }

    #[test]
    fn cues_without_duration_are_shifted() {
        let timeless = Cue {
            start: Some(5),
            len: None,
        };
        assert_eq!(Overflow::Clip.for_cue(&timeless), Overflow::Shift);
        assert_eq!(Overflow::Overlap.for_cue(&cue(5, 10)), Overflow::Overlap);
        assert_eq!(timeless.end(), None);
        assert_eq!(cue(5, 10).end(), Some(15));
    }

    #[test]
    fn advance_to_emits_held_speech_then_silence_in_blocks() {
        let mut schedule = Schedule::new(10);
        let mut out = Vec::new();
        schedule.advance_to(25, &mut out);
        assert_eq!(
            layout(&out),
            [
                (0, 10, true, true),
                (10, 10, true, false),
                (20, 5, true, false)
            ]
        );
        out.clear();
        schedule.advance_to(20, &mut out);
        assert!(out.is_empty(), "never backwards");
        // Held speech (overlap) goes first, then silence.
        let placed = schedule.add(vec![1.0; 10], &cue(25, 4), Overflow::Overlap, None);
        assert_eq!(layout(&placed.blocks), [(25, 4, false, false)]);
        assert_eq!(schedule.scheduled_end(), 35);
        out.clear();
        schedule.advance_to(40, &mut out);
        assert_eq!(layout(&out), [(29, 6, false, false), (35, 5, true, false)]);
        assert_eq!(schedule.pushed(), 40);
    }

    #[test]
    fn speech_is_placed_at_its_cue() {
        let mut schedule = Schedule::new(100);
        let placed = schedule.add(vec![0.5; 30], &cue(50, 40), Overflow::Fit, None);
        assert_eq!((placed.start, placed.planned), (50, 50));
        assert_eq!(
            layout(&placed.blocks),
            [(0, 50, true, true), (50, 30, false, false)]
        );
        assert_eq!(placed.blocks[1].samples, vec![0.5; 30]);
        // A cue without a time follows what came before.
        let placed = schedule.add(vec![0.5; 5], &Cue::default(), Overflow::Shift, None);
        assert_eq!(placed.start, 80);
        // The output covers the last cue, speech or not.
        schedule.mark_cue(&cue(100, 50));
        assert_eq!((schedule.scheduled_end(), schedule.stream_end()), (85, 150));
    }

    #[test]
    fn shift_and_fit_start_after_the_speech_before() {
        for overflow in [Overflow::Shift, Overflow::Fit, Overflow::Clip] {
            let mut schedule = Schedule::new(100);
            schedule.add(vec![0.5; 60], &cue(0, 60), overflow, None);
            let placed = schedule.add(vec![0.5; 10], &cue(40, 20), overflow, None);
            assert_eq!((placed.start, placed.planned), (60, 60), "{overflow:?}");
            assert_eq!(layout(&placed.blocks), [(60, 10, false, false)]);
        }
    }

    #[test]
    fn clip_keeps_cues_apart() {
        let mut schedule = Schedule::new(100);
        let mut first = speech(60, 0);
        first.limit_to_cue(Some(40), Overflow::Clip);
        schedule.add(first.samples, &cue(0, 40), Overflow::Clip, None);
        let placed = schedule.add(vec![0.5; 10], &cue(40, 20), Overflow::Clip, None);
        assert_eq!(placed.start, 40);
        assert_eq!(schedule.pushed(), 50);
    }

    #[test]
    fn overlap_holds_the_run_on_and_mixes_the_next_cue_in() {
        let mut schedule = Schedule::new(100);
        // 60 samples of speech for a cue of 40: samples 40.. are held back.
        let placed = schedule.add(vec![0.25; 60], &cue(0, 40), Overflow::Overlap, None);
        assert_eq!(layout(&placed.blocks), [(0, 40, false, true)]);
        assert_eq!((schedule.pushed(), schedule.scheduled_end()), (40, 60));
        // The next cue starts at 50, inside the held part: summed with it there.
        let placed = schedule.add(vec![0.5; 30], &cue(50, 40), Overflow::Overlap, None);
        assert_eq!((placed.start, placed.planned), (50, 50));
        assert_eq!(layout(&placed.blocks), [(40, 40, false, false)]);
        let mixed = &placed.blocks[0].samples;
        assert!(mixed[..10].iter().all(|&s| s == 0.25));
        assert!(mixed[10..20].iter().all(|&s| s == 0.75));
        assert!(mixed[20..].iter().all(|&s| s == 0.5));
        // A cue before what was pushed starts at `pushed`.
        let placed = schedule.add(vec![0.5; 5], &cue(10, 5), Overflow::Overlap, None);
        assert_eq!((placed.start, placed.planned), (80, 80));
    }

    #[test]
    fn live_floor_moves_late_speech_and_skips_silence() {
        let mut schedule = Schedule::new(100);
        let placed = schedule.add(vec![0.5; 10], &cue(20, 10), Overflow::Fit, Some(50));
        assert_eq!((placed.start, placed.planned), (50, 20));
        assert_eq!(layout(&placed.blocks), [(50, 10, false, true)]);
        // On time: the silence before the floor is skipped, the rest is sent.
        let placed = schedule.add(vec![0.5; 10], &cue(100, 10), Overflow::Fit, Some(80));
        assert_eq!((placed.start, placed.planned), (100, 100));
        assert_eq!(
            layout(&placed.blocks),
            [(80, 20, true, true), (100, 10, false, false)]
        );
        // Held speech is never skipped.
        let mut schedule = Schedule::new(100);
        schedule.add(vec![0.5; 30], &cue(0, 10), Overflow::Overlap, None);
        let placed = schedule.add(vec![0.5; 5], &cue(15, 5), Overflow::Overlap, Some(20));
        assert_eq!(placed.start, 20);
        assert_eq!(layout(&placed.blocks), [(10, 10, false, false)]);
    }

    #[test]
    fn restart_and_flush() {
        let mut schedule = Schedule::new(100);
        schedule.add(vec![0.5; 30], &cue(0, 10), Overflow::Overlap, None);
        schedule.restart();
        assert_eq!((schedule.pushed(), schedule.scheduled_end()), (0, 20));
        schedule.flush();
        assert_eq!((schedule.pushed(), schedule.stream_end()), (0, 0));
        let mut out = Vec::new();
        schedule.advance_to(5, &mut out);
        assert_eq!(layout(&out), [(0, 5, true, true)]);
    }
}
