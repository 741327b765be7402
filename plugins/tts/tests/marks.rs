// SPDX-License-Identifier: GPL-3.0-or-later
//! Speech marks of `neuraltts` and `neuralttssrc` on the real voice (the default, with phoneme
//! durations) and real espeak-ng: `neuraltts-word` and `neuraltts-viseme` messages in the time
//! base of the audio buffers, through `fit`, `shift` and `clip`; the `words` pad's buffers match
//! the word messages; byte offsets point into the input; a voice without durations posts no
//! word marks and no warning; the `speech-marks` flags choose what is posted.

use gst::prelude::*;
use neural_media_test_support::{self as support};

fn init() {
    support::init_once(gstneuraltts::plugin_register_static);
}

fn secs(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s * 1e9).round() as u64)
}

#[derive(Debug, Clone, PartialEq)]
struct Word {
    text: String,
    start: u64,
    end: u64,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
    sentence: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct Timed {
    text: String,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
}

#[derive(Default, Debug)]
struct Marks {
    sentences: Vec<Timed>,
    words: Vec<Word>,
    visemes: Vec<Timed>,
    warnings: Vec<String>,
}

fn time(s: &gst::StructureRef, field: &str) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(s.get::<u64>(field).unwrap())
}

/// Collects the marks and warnings on `bus` until EOS (panics on an error or after 60 s).
fn collect(bus: &gst::Bus) -> Marks {
    let mut marks = Marks::default();
    loop {
        let msg = bus
            .timed_pop(gst::ClockTime::from_seconds(15))
            .expect("EOS within 60 s");
        match msg.view() {
            gst::MessageView::Eos(_) => return marks,
            gst::MessageView::Error(e) => panic!("error: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Warning(w) => marks.warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                match s.name().as_str() {
                    "neuraltts-sentence" => marks.sentences.push(Timed {
                        text: s.get("text").unwrap(),
                        pts: time(s, "pts"),
                        duration: time(s, "duration"),
                    }),
                    "neuraltts-word" => marks.words.push(Word {
                        text: s.get("text").unwrap(),
                        start: s.get("start").unwrap(),
                        end: s.get("end").unwrap(),
                        pts: time(s, "pts"),
                        duration: time(s, "duration"),
                        sentence: s.get("sentence").unwrap(),
                    }),
                    "neuraltts-viseme" => marks.visemes.push(Timed {
                        text: s.get("viseme").unwrap(),
                        pts: time(s, "pts"),
                        duration: time(s, "duration"),
                    }),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// The result of voicing cues through `neuraltts`: marks, the `words` pad's buffers and the
/// audio's end.
struct Voiced {
    marks: Marks,
    words_pad: Vec<Timed>,
    audio: Vec<gst::Buffer>,
    available: bool,
}

/// `appsrc ! neuraltts ! appsink`, the `words` pad into another appsink; `cues` are (text,
/// pts, duration) in seconds.
fn voice_cues(props: &str, cues: &[(&str, f64, f64)]) -> Voiced {
    init();
    let pipeline = support::pipeline(&format!(
        "appsrc name=src format=time caps=text/x-raw,format=utf8 \
         ! neuraltts name=tts noise-scale=0 noise-w=0 sentence-silence=0 {props} \
         ! queue ! appsink name=audio sync=false \
         tts.words ! queue ! appsink name=words sync=false"
    ));
    let src = support::app_src(&pipeline, "src");
    for &(text, pts, duration) in cues {
        let mut buffer = gst::Buffer::from_slice(text.as_bytes().to_vec());
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(secs(pts));
            b.set_duration(secs(duration));
        }
        src.push_buffer(buffer).unwrap();
    }
    src.end_of_stream().unwrap();
    let audio_sink = support::app_sink(&pipeline, "audio");
    let words_sink = support::app_sink(&pipeline, "words");
    let audio = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let words = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let a = audio.clone();
    audio_sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                a.lock().unwrap().push(sample.buffer_owned().unwrap());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let w = words.clone();
    words_sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().unwrap();
                let map = buffer.map_readable().unwrap();
                w.lock().unwrap().push(Timed {
                    text: String::from_utf8(map.to_vec()).unwrap(),
                    pts: buffer.pts().unwrap(),
                    duration: buffer.duration().unwrap(),
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let marks = collect(&pipeline.bus().unwrap());
    let available = pipeline
        .by_name("tts")
        .unwrap()
        .property::<bool>("speech-marks-available");
    pipeline.set_state(gst::State::Null).unwrap();
    let audio = audio.lock().unwrap().clone();
    let words_pad = words.lock().unwrap().clone();
    Voiced {
        marks,
        words_pad,
        audio,
        available,
    }
}

/// Every word message's text is the input between its offsets; words are in order, inside
/// their sentence, and do not overlap.
fn check_words(text_of: impl Fn(&Word) -> String, marks: &Marks) {
    assert!(!marks.words.is_empty());
    for w in &marks.words {
        assert_eq!(w.text, text_of(w), "{w:?}");
        let s = &marks.sentences[w.sentence as usize];
        assert!(
            w.pts >= s.pts && w.pts + w.duration <= s.pts + s.duration,
            "{w:?} outside {s:?}"
        );
        assert!(w.duration > gst::ClockTime::ZERO, "{w:?}");
    }
    for pair in marks.words.windows(2) {
        assert!(pair[0].pts + pair[0].duration <= pair[1].pts, "{pair:?}");
    }
}

const CUES: [(&str, f64, f64); 3] = [
    ("The baker opened his shop at the corner.", 0.0, 4.0),
    // Far too long for its cue: sped up (fit), or cut (clip), or run on (shift).
    (
        "Two old friends sat down on a wooden bench, talking about the weather.",
        4.0,
        2.5,
    ),
    ("It costs 3.50 dollars.", 7.0, 3.0),
];

#[test]
fn word_messages_and_words_pad_agree_under_fit_shift_and_clip() {
    for overflow in ["fit", "shift", "clip"] {
        let v = voice_cues(&format!("overflow={overflow} max-speedup=2"), &CUES);
        assert!(v.available);
        assert!(v.marks.warnings.is_empty(), "{:?}", v.marks.warnings);
        // Each cue is one sentence here: the word's sentence index is its cue.
        assert_eq!(v.marks.sentences.len(), 3, "{overflow}");
        check_words(
            |w| CUES[w.sentence as usize].0[w.start as usize..w.end as usize].to_owned(),
            &v.marks,
        );
        let pad: Vec<Timed> = v
            .marks
            .words
            .iter()
            .map(|w| Timed {
                text: w.text.clone(),
                pts: w.pts,
                duration: w.duration,
            })
            .collect();
        assert_eq!(
            v.words_pad, pad,
            "{overflow}: the words pad carries the word messages"
        );
        let texts: Vec<&str> = v.marks.words.iter().map(|w| w.text.as_str()).collect();
        // "3.50" is said as several words, each with the source's span.
        assert!(
            texts.iter().filter(|t| **t == "3.50").count() >= 2,
            "{texts:?}"
        );
        // Every word is within audible speech: the audio buffers at the word's time carry
        // sound, not GAP silence.
        for w in &v.marks.words {
            let buffer = v
                .audio
                .iter()
                .find(|b| {
                    b.pts().unwrap() <= w.pts && w.pts < b.pts().unwrap() + b.duration().unwrap()
                })
                .expect("audio at each word");
            assert!(!buffer.flags().contains(gst::BufferFlags::GAP), "{w:?}");
        }
        let second: Vec<&Word> = v.marks.words.iter().filter(|w| w.sentence == 1).collect();
        let last = second.last().unwrap();
        match overflow {
            // Sped up to end within the cue (4.0 + 2.5 s).
            "fit" => {
                assert!(last.pts + last.duration <= secs(6.5), "{last:?}");
                assert_eq!(last.text, "weather");
            }
            // Runs on past the cue; the third cue waits for it.
            "shift" => {
                assert!(last.pts + last.duration > secs(6.5), "{last:?}");
                let third = v.marks.words.iter().find(|w| w.sentence == 2).unwrap();
                assert!(third.pts >= last.pts + last.duration);
            }
            // Cut at the cue end: the words after it get no mark, the one it cuts is truncated.
            _ => {
                assert!(
                    last.pts + last.duration <= secs(6.5) + gst::ClockTime::MSECOND,
                    "{last:?}"
                );
                assert_ne!(last.text, "weather");
            }
        }
    }
}

#[test]
fn visemes_tile_each_sentence_and_flags_choose_the_messages() {
    let v = voice_cues("speech-marks=viseme", &CUES[..1]);
    assert!(v.marks.sentences.is_empty() && v.marks.words.is_empty());
    // The words pad does not depend on the flags: it is linked, so it has the words.
    let words: Vec<&str> = v.words_pad.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(
        words,
        [
            "The", "baker", "opened", "his", "shop", "at", "the", "corner"
        ]
    );
    let visemes = &v.marks.visemes;
    assert!(visemes.len() > 20, "{visemes:?}");
    assert_eq!(visemes[0].pts, gst::ClockTime::ZERO);
    for pair in visemes.windows(2) {
        assert!(
            pair[0].text != pair[1].text,
            "same visemes are merged: {pair:?}"
        );
        let gap =
            pair[1].pts.nseconds() as i64 - (pair[0].pts + pair[0].duration).nseconds() as i64;
        assert!(gap.abs() <= 1, "contiguous: {pair:?}");
    }
    let names: Vec<&str> = visemes.iter().map(|v| v.text.as_str()).collect();
    for expected in ["sil", "PP", "kk", "aa", "DD", "TH"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert_eq!(*names.last().unwrap(), "sil");
}

#[test]
fn a_voice_without_durations_posts_sentences_only_without_warning() {
    let original = neural_media::assets::data_file(neural_media::assets::PROVISIONED_VOICE);
    let v = voice_cues(
        &format!(
            "model={} speech-marks=sentence+word+viseme",
            original.display()
        ),
        &CUES[..1],
    );
    assert!(!v.available);
    assert_eq!(v.marks.sentences.len(), 1);
    assert!(v.marks.words.is_empty() && v.marks.visemes.is_empty() && v.words_pad.is_empty());
    assert!(v.marks.warnings.is_empty(), "{:?}", v.marks.warnings);
}

#[test]
fn source_word_offsets_point_into_the_text_property() {
    init();
    let text = "  Out of the blue,\n\tthe \"end\" of the day.  It costs 3.50!";
    let pipeline = support::pipeline(
        "neuralttssrc name=src noise-scale=0 noise-w=0 chunking=clause ! fakesink",
    );
    pipeline.by_name("src").unwrap().set_property("text", text);
    pipeline.set_state(gst::State::Playing).unwrap();
    let marks = collect(&pipeline.bus().unwrap());
    assert!(
        pipeline
            .by_name("src")
            .unwrap()
            .property::<bool>("speech-marks-available")
    );
    pipeline.set_state(gst::State::Null).unwrap();
    check_words(
        |w| text[w.start as usize..w.end as usize].to_owned(),
        &marks,
    );
    let texts: Vec<&str> = marks.words.iter().map(|w| w.text.as_str()).collect();
    // espeak-ng says "out of" as one word; "3.50" as several.
    assert_eq!(texts[0], "Out of", "{texts:?}");
    assert!(
        texts.contains(&"end"),
        "quotes are not part of the word: {texts:?}"
    );
    assert!(
        texts.iter().filter(|t| **t == "3.50").count() >= 2,
        "{texts:?}"
    );
    // Three clauses: three sentence messages, and the words say which.
    assert_eq!(marks.sentences.len(), 3);
    assert_eq!(marks.words.last().unwrap().sentence, 2);
}
