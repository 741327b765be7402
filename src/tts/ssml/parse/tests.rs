// SPDX-License-Identifier: MPL-2.0
use super::*;

fn text(t: &str) -> Piece {
    Piece::Text(t.into())
}

fn speech(pieces: Vec<Piece>, sentence_end: bool) -> Segment {
    Segment::Speech {
        pieces,
        prosody: Prosody::default(),
        sentence_end,
    }
}

#[test]
fn plain_speak_is_one_segment() {
    let doc = parse("<speak>Hello there. How are you?</speak>");
    assert_eq!(
        doc.segments,
        [speech(vec![text("Hello there. How are you?")], true)]
    );
    assert!(doc.warnings.is_empty());
    let doc = parse(
        "<?xml version=\"1.0\"?>\n<speak version=\"1.1\" \
         xmlns=\"http://www.w3.org/2001/10/synthesis\" xml:lang=\"en-US\">Hi &amp; bye</speak>",
    );
    assert_eq!(doc.segments, [speech(vec![text("Hi & bye")], true)]);
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
}

#[test]
fn breaks_and_marks_cut_the_speech() {
    let doc = parse(
        "<speak>Hello <break time=\"1500ms\"/> big <mark name=\"x\"/>world \
         <break strength=\"strong\"/><break/><break time=\"2s\"/><break strength=\"none\"/></speak>",
    );
    assert_eq!(
        doc.segments,
        [
            speech(vec![text("Hello ")], false),
            Segment::Break(1.5),
            speech(vec![text(" big ")], false),
            Segment::Mark("x".into()),
            speech(vec![text("world ")], false),
            Segment::Break(0.75),
            Segment::Break(0.4),
            Segment::Break(2.0),
        ]
    );
    assert_eq!(doc.marks(), ["x"]);
    assert_eq!(doc.text(), "Hello big world");
}

#[test]
fn sentences_and_paragraphs_end_sentences() {
    let doc = parse("<speak><p><s>One</s><s>Two<mark name=\"m\"/></s></p>three</speak>");
    assert_eq!(
        doc.segments,
        [
            speech(vec![text("One")], true),
            speech(vec![text("Two")], true),
            Segment::Mark("m".into()),
            speech(vec![text("three")], true),
        ]
    );
}

#[test]
fn prosody_and_emphasis_scale_length_and_volume() {
    let doc = parse(
        "<speak>a <prosody rate=\"slow\" volume=\"-6dB\">b <emphasis>c</emphasis></prosody> \
         <prosody rate=\"200%\">d</prosody><prosody rate=\"medium\">e</prosody></speak>",
    );
    let prosodies: Vec<(String, f32, f32)> = doc
        .segments
        .iter()
        .map(|s| match s {
            Segment::Speech {
                pieces, prosody, ..
            } => (
                format!("{pieces:?}"),
                (prosody.length * 1000.0).round() / 1000.0,
                (prosody.volume * 1000.0).round() / 1000.0,
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    let slow = 1.0 / 0.75f32;
    let r = |v: f32| (v * 1000.0).round() / 1000.0;
    assert_eq!(prosodies.len(), 5, "{prosodies:?}");
    assert_eq!((prosodies[0].1, prosodies[0].2), (1.0, 1.0));
    assert_eq!((prosodies[1].1, prosodies[1].2), (r(slow), 0.501));
    assert_eq!((prosodies[2].1, prosodies[2].2), (r(slow * 1.15), 0.501));
    assert_eq!((prosodies[3].1, prosodies[3].2), (0.5, 1.0));
    // "medium" changes nothing: "e" is spoken at the outer prosody.
    assert_eq!((prosodies[4].1, prosodies[4].2), (1.0, 1.0));
    assert!(prosodies[4].0.contains("\"e\""), "{prosodies:?}");
}

#[test]
fn rates_volumes_and_times() {
    assert_eq!(parse_rate("x-slow"), Some(0.5));
    assert_eq!(parse_rate("150%"), Some(1.5));
    assert_eq!(parse_rate("+20%"), Some(1.2));
    assert_eq!(parse_rate("-20%"), Some(0.8));
    assert_eq!(parse_rate("-100%"), None);
    assert_eq!(parse_rate("fastest"), None);
    assert_eq!(parse_volume("silent"), Some(0.0));
    assert!((parse_volume("+6dB").unwrap() - 1.995).abs() < 1e-3);
    assert_eq!(parse_volume("50%"), Some(0.5));
    assert_eq!(parse_volume("loudest"), None);
    assert_eq!(parse_time("250ms"), Some(0.25));
    assert_eq!(parse_time("1.5s"), Some(1.5));
    assert_eq!(parse_time("-1s"), None);
    assert_eq!(parse_time("NaNs"), None);
    assert_eq!(parse_time("soon"), None);
}

#[test]
fn substitutions_say_as_and_phonemes() {
    let doc = parse(
        "<speak><sub alias=\"World Wide Web\">WWW</sub> has \
         <say-as interpret-as=\"characters\">GST</say-as> and \
         <phoneme alphabet=\"ipa\" ph=\"təmˈɑːtoʊ\">tomato</phoneme> soup</speak>",
    );
    assert_eq!(
        doc.segments,
        [speech(
            vec![
                text("World Wide Web has G S T and "),
                Piece::Phonemes {
                    ipa: "təmˈɑːtoʊ".into(),
                    text: "tomato".into()
                },
                text(" soup"),
            ],
            true
        )]
    );
    assert_eq!(doc.text(), "World Wide Web has G S T and tomato soup");
}

#[test]
fn unsupported_things_warn_once_and_are_spoken() {
    let doc = parse(
        "<speak><prosody pitch=\"high\">one</prosody> <prosody pitch=\"low\">two</prosody> \
         <lang xml:lang=\"fr\">trois</lang> <audio src=\"x.wav\">four<desc>no</desc></audio> \
         <phoneme alphabet=\"x-sampa\" ph=\"f@U\">five</phoneme> <foo>six</foo> \
         <say-as interpret-as=\"currency\">$7</say-as> <mark/></speak>",
    );
    assert_eq!(doc.text(), "one two trois four five six $7");
    let pitch = doc
        .warnings
        .iter()
        .filter(|w| w.message.contains("pitch"))
        .count();
    assert_eq!(pitch, 1, "{:?}", doc.warnings);
    for needle in [
        "<lang>", "<audio>", "x-sampa", "<foo>", "currency", "<mark>",
    ] {
        assert!(
            doc.warnings.iter().any(|w| w.message.contains(needle)),
            "{needle}: {:?}",
            doc.warnings
        );
    }
    assert!(doc.warnings.iter().all(|w| !w.malformed));
}

#[test]
fn malformed_ssml_is_spoken_as_its_text() {
    let doc = parse("<speak>Hello <break time=\"1s\"> world &amp; you</speak>");
    assert_eq!(doc.warnings.len(), 1);
    assert!(doc.warnings[0].malformed);
    assert!(doc.warnings[0].message.contains("malformed SSML"));
    assert_eq!(doc.text(), "Hello world & you");
    // Bare text and fragments are read as the content of a <speak>, with a warning.
    let doc = parse("Hello <break time=\"300ms\"/> world");
    assert_eq!(doc.segments.len(), 3);
    assert_eq!(doc.warnings.len(), 1);
    assert!(!doc.warnings[0].malformed);
    let doc = parse("1 < 2 <");
    assert!(doc.warnings[0].malformed);
    assert_eq!(doc.text(), "1 < 2 <");
    assert!(parse("").segments.is_empty());
}

#[test]
fn deep_nesting_is_read_as_text() {
    let depth = 5000;
    let doc = parse(&format!(
        "<speak>{}deep{}</speak>",
        "<s>".repeat(depth),
        "</s>".repeat(depth)
    ));
    assert_eq!(doc.text(), "deep");
}

#[test]
fn replacements_are_kept_apart_from_adjacent_words() {
    let doc = parse(
        "<speak>a<say-as interpret-as=\"digits\">12</say-as>b \
         <sub alias=\"x\">y</sub>. <say-as interpret-as=\"cardinal\">4</say-as>.</speak>",
    );
    assert_eq!(doc.segments, [speech(vec![text("a 1 2 b x. 4.")], true)]);
}
