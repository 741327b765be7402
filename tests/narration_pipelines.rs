// SPDX-License-Identifier: MPL-2.0
//! The cross-modal scripts in `pipelines/` (narration of expression changes, a broadcast mix,
//! captions voiced over their video) reach EOS and write an MP4 with a video and an audio stream
//! as long as the sample video, with speech where it belongs.
//!
//! They load the plugins from `target/<profile>` (scripts/test.sh builds them first).

use std::path::Path;
use std::process::Command;

mod common;
use common::{out_file, repo, run, sample_video, wav};

/// The sample video's duration, in seconds.
const VIDEO_SECONDS: f64 = 19.69;
/// The rate the audio tracks are decoded at for the checks.
const RATE: f64 = 22050.0;

/// `gst-discoverer-1.0`'s report on `mp4`, asserting it has one video and one audio stream and
/// lasts as long as the sample video.
fn discover(mp4: &Path) -> String {
    let bytes = std::fs::read(mp4).expect("mp4 written");
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 file");
    let out = Command::new("gst-discoverer-1.0")
        .arg(mp4)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("video #") && text.contains("H.264"), "{text}");
    assert!(
        text.contains("audio #") && text.contains("MPEG-4 AAC"),
        "{text}"
    );
    let duration = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .and_then(|d| {
            let mut parts = d.split(':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next()?.parse().ok()?;
            Some(h * 3600.0 + m * 60.0 + s)
        })
        .unwrap_or_else(|| panic!("no duration in {text}"));
    assert!(
        (duration - VIDEO_SECONDS).abs() < 0.5,
        "{duration} s, not the video's {VIDEO_SECONDS} s:\n{text}"
    );
    text
}

/// Decodes track `track` (`audio_0`, `video_0`) of `mp4` through `convert` (a gst-launch
/// fragment) into the file `out`.
fn decode_track(mp4: &Path, track: &str, convert: &str, out: &Path) {
    let mut args = vec![
        "-q".to_owned(),
        "filesrc".to_owned(),
        format!("location={}", mp4.display()),
        "!".to_owned(),
        "qtdemux".to_owned(),
        "name=demux".to_owned(),
        format!("demux.{track}"),
        "!".to_owned(),
        "decodebin".to_owned(),
        "!".to_owned(),
    ];
    args.extend(convert.split_whitespace().map(str::to_owned));
    args.extend(["!".to_owned(), "filesink".to_owned()]);
    args.push(format!("location={}", out.display()));
    let status = Command::new("gst-launch-1.0")
        .args(&args)
        .status()
        .expect("gst-launch-1.0 runs");
    assert!(status.success(), "decoding {track} of {}", mp4.display());
}

/// The MP4's audio track decoded to mono S16 at [`RATE`].
fn audio(mp4: &Path) -> Vec<i16> {
    let out = out_file(&format!(
        "{}.wav",
        mp4.file_name().unwrap().to_string_lossy()
    ));
    decode_track(
        mp4,
        "audio_0",
        &format!(
            "audioconvert ! audioresample ! audio/x-raw,format=S16LE,channels=1,rate={RATE} ! wavenc"
        ),
        &out,
    );
    let (rate, channels, bits, data) = wav(&out);
    assert_eq!((rate as f64, channels, bits), (RATE, 1, 16));
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let seconds = samples.len() as f64 / RATE;
    assert!(
        (seconds - VIDEO_SECONDS).abs() < 0.75,
        "{seconds} s of audio for {VIDEO_SECONDS} s of video"
    );
    samples
}

/// Some sample of `[from, to)` (seconds) is louder than speech's quiet parts get.
fn loud(samples: &[i16], from: f64, to: f64) -> bool {
    let (a, b) = (
        ((from * RATE) as usize).min(samples.len()),
        ((to * RATE) as usize).min(samples.len()),
    );
    samples[a..b].iter().any(|s| s.unsigned_abs() > 1000)
}

/// The first loud 10 ms block, in seconds.
fn first_speech(samples: &[i16]) -> Option<f64> {
    let block = (RATE / 100.0) as usize;
    samples
        .chunks(block)
        .position(|c| c.iter().any(|s| s.unsigned_abs() > 1000))
        .map(|i| i as f64 / 100.0)
}

#[test]
fn narrate_expressions_speaks_the_changes_in_time() {
    let mp4 = out_file("narrated.mp4");
    run("narrate-expressions.sh", &[&sample_video(), &mp4]);
    discover(&mp4);
    let samples = audio(&mp4);
    // faceexpression announces the face (track 1, "sad") at 0.125 s: its sentence starts there.
    let first = first_speech(&samples).expect("some speech");
    assert!((0.1..1.0).contains(&first), "first speech at {first} s");
    assert!(
        loud(&samples, first, first + 1.0),
        "a sentence, not a click"
    );
    // Sentences, not a continuous voice: whole seconds without speech, and a later change spoken.
    let quiet_seconds = (0..VIDEO_SECONDS as usize)
        .filter(|&s| !loud(&samples, s as f64, s as f64 + 1.0))
        .count();
    assert!(quiet_seconds >= 5, "{quiet_seconds} quiet seconds");
    assert!(
        loud(&samples, 5.0, VIDEO_SECONDS),
        "a later change is spoken"
    );
}

#[test]
fn broadcast_mix_has_the_commentary_and_the_narration() {
    let mp4 = out_file("broadcast.mp4");
    run(
        "broadcast-mix.sh",
        &[&sample_video(), &mp4, Path::new("Good evening.")],
    );
    let text = discover(&mp4);
    assert!(text.contains("H.264 (High Profile)"), "{text}");
    let samples = audio(&mp4);
    let first = first_speech(&samples).expect("some speech");
    assert!(first < 0.5, "the commentary opens the mix: {first} s");
    assert!(
        loud(&samples, 5.0, VIDEO_SECONDS),
        "the narration is mixed in"
    );
}

#[test]
fn caption_video_speaks_each_cue_over_its_video() {
    let mp4 = out_file("captioned.mp4");
    let srt = repo().join("pipelines/data/sample-captions.srt");
    run("caption-video.sh", &[&srt, &sample_video(), &mp4]);
    discover(&mp4);
    let samples = audio(&mp4);
    // Cues at 0.5, 4, 7, 10, 14 and 17.5 s.
    assert!(!loud(&samples, 0.0, 0.45), "silent before the first cue");
    assert!(loud(&samples, 0.5, 3.0), "first cue spoken");
    assert!(
        !loud(&samples, 3.3, 3.95),
        "silent between the first two cues"
    );
    assert!(loud(&samples, 4.0, 6.5), "second cue spoken");
    assert!(!loud(&samples, 16.9, 17.45), "silent before the last cue");
    assert!(loud(&samples, 17.5, 19.5), "last cue spoken at 17.5 s");
}

/// Frames a second at which `caption_pixels` samples the videos.
const CAPTION_FPS: usize = 10;

/// Near-white pixels (≥ 235) in the bottom 80 rows of each video frame of `mp4`, at
/// [`CAPTION_FPS`] (frame i at i / CAPTION_FPS s).
fn caption_pixels(mp4: &Path) -> Vec<usize> {
    let raw = out_file(&format!(
        "{}.gray",
        mp4.file_name().unwrap().to_string_lossy()
    ));
    decode_track(
        mp4,
        "video_0",
        &format!(
            "videoconvert ! videorate ! video/x-raw,format=GRAY8,width=640,height=360,framerate={CAPTION_FPS}/1"
        ),
        &raw,
    );
    let data = std::fs::read(&raw).unwrap();
    data.chunks_exact(640 * 360)
        .map(|frame| frame[280 * 640..].iter().filter(|&&p| p >= 235).count())
        .collect()
}

#[test]
fn caption_words_shows_each_word_while_it_is_spoken() {
    let mp4 = out_file("captioned-words.mp4");
    let srt = repo().join("pipelines/data/sample-captions.srt");
    run("caption-words.sh", &[&srt, &sample_video(), &mp4]);
    discover(&mp4);
    let samples = audio(&mp4);
    assert!(loud(&samples, 0.5, 3.0), "first cue spoken");
    let burned = caption_pixels(&mp4);
    let plain = caption_pixels(&sample_video());
    let frame = |seconds: f64| (seconds * CAPTION_FPS as f64).round() as usize;
    assert!(burned.len() >= frame(19.5) && plain.len() >= frame(19.5));
    let text = |i: usize| burned[i].saturating_sub(plain[i]);
    // The first cue (0.5-3 s, "A man looks into the camera.") is spoken from about 0.55 to
    // 2.0 s; the voice's noise moves each word by some tens of milliseconds, and the words have
    // pauses of about 50 ms between them, in which no word is shown. So: text on most frames
    // while it is spoken, none in the silence before it or between the first two cues (4 s).
    let during: Vec<usize> = (frame(0.65)..=frame(1.85)).map(text).collect();
    assert!(
        during.iter().filter(|&&n| n > 150).count() * 2 > during.len(),
        "words shown during the first cue: {during:?}"
    );
    for i in (0..frame(0.4)).chain(frame(3.25)..frame(3.9)) {
        assert!(
            text(i) < 50,
            "no text at {} s: {:?}",
            i as f64 / CAPTION_FPS as f64,
            text(i)
        );
    }
}
