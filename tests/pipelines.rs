// SPDX-License-Identifier: MPL-2.0
//! The scripts in `pipelines/` run as a user would run them and produce what they promise.
//!
//! They load the plugins from `target/<profile>` (scripts/test.sh builds them first).

use std::path::Path;
use std::process::Command;

mod common;
use common::{out_file, plugin_dir, repo, run, wav};

/// (sample rate, channels, bits, data bytes) of a PCM WAV file.
fn wav_format(path: &Path) -> (u32, u16, u16, usize) {
    let (rate, channels, bits, data) = wav(path);
    (rate, channels, bits, data.len())
}

#[test]
fn speak_text_writes_the_paragraph_to_wav() {
    let wav = out_file("speech.wav");
    run(
        "speak-text.sh",
        &[&repo().join("pipelines/paragraph.txt"), &wav],
    );
    let (rate, channels, bits, bytes) = wav_format(&wav);
    assert_eq!((rate, channels, bits), (22050, 1, 16));
    let seconds = bytes as f64 / (2.0 * 22050.0);
    // Six sentences of ordinary speech.
    assert!((15.0..60.0).contains(&seconds), "{seconds} s of speech");
}

#[test]
fn speak_ssml_writes_the_announcement_with_its_break() {
    let wav = out_file("announcement.wav");
    run(
        "speak-ssml.sh",
        &[&repo().join("pipelines/data/announcement.ssml"), &wav],
    );
    let (rate, channels, _, data) = common::wav(&wav);
    assert_eq!((rate, channels), (22050, 1));
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    // The 1 s break: the longest run of digital silence, between the two sentences.
    let mut longest = 0;
    let mut current = 0;
    for &s in &samples {
        current = if s == 0 { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    assert!(longest >= 22050, "longest silence {longest} samples");
    assert!(samples.len() > 3 * 22050, "{} samples", samples.len());
}

#[test]
fn annotate_video_writes_an_mp4_with_the_overlay() {
    let mp4 = out_file("annotated.mp4");
    let input = neural_media::assets::data_dir().join("media/WolfgangLanger_Pexels.mp4");
    run("annotate-video.sh", &[&input, &mp4]);
    let bytes = std::fs::read(&mp4).expect("mp4 written");
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 file");
    let out = Command::new("gst-discoverer-1.0")
        .arg(&mp4)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // 4:2:0, so that every player can decode it.
    assert!(text.contains("H.264 (High Profile)"), "{text}");
    assert!(
        text.contains("Width: 640") && text.contains("Height: 360"),
        "{text}"
    );
    assert!(text.contains("Duration: 0:00:19.6"), "{text}");
}

#[test]
fn anonymise_video_writes_an_mp4() {
    let mp4 = out_file("anonymised.mp4");
    let input = neural_media::assets::data_dir().join("media/WolfgangLanger_Pexels.mp4");
    run("anonymise-video.sh", &[&input, &mp4, Path::new("pixelate")]);
    let out = Command::new("gst-discoverer-1.0")
        .arg(&mp4)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("H.264"), "{text}");
    assert!(text.contains("Duration: 0:00:19.6"), "{text}");
}

#[test]
fn voice_subtitles_speaks_each_cue_at_its_time() {
    let out = out_file("captions.wav");
    let srt = repo().join("pipelines/data/captions.srt");
    run("voice-subtitles.sh", &[&srt, &out]);
    let (rate, channels, bits, data) = wav(&out);
    assert_eq!((rate, channels, bits), (22050, 1, 16));
    // Silence before the first cue (0.5 s), the last cue's speech starting at 12 s.
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let loud = |from: f64, to: f64| {
        let (a, b) = (
            (from * 22050.0) as usize,
            ((to * 22050.0) as usize).min(samples.len()),
        );
        samples[a..b].iter().any(|s| s.unsigned_abs() > 1000)
    };
    assert!(!loud(0.0, 0.45), "silent before the first cue");
    assert!(loud(0.5, 3.0), "first cue spoken");
    assert!(!loud(11.0, 11.95), "silent before the last cue");
    assert!(loud(12.0, 14.5), "last cue spoken at 12 s");
}

#[test]
fn push_live_text_from_python_speaks_each_line_in_order() {
    let out = out_file("live.wav");
    let output = Command::new("/usr/bin/python3")
        .arg(repo().join("pipelines/push-live-text.py"))
        .arg(&out)
        .args(["First line.", "Second line, pushed later."])
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .expect("Debian's python3 with python3-gi (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let spoken: Vec<(f64, &str)> = stdout
        .lines()
        .filter_map(|l| l.split_once(" s  "))
        .map(|(t, text)| (t.trim().parse().expect("time"), text))
        .collect();
    assert_eq!(
        spoken.iter().map(|s| s.1).collect::<Vec<_>>(),
        ["First line.", "Second line, pushed later."]
    );
    // Pushed at 2 s and 4 s (wall clock); spoken once synthesised, in real time.
    assert!((2.0..3.5).contains(&spoken[0].0), "{stdout}");
    assert!((4.0..5.5).contains(&spoken[1].0), "{stdout}");
    let (rate, _, _, data) = wav(&out);
    let seconds = data.len() as f64 / 2.0 / f64::from(rate);
    assert!((5.0..9.0).contains(&seconds), "{seconds} s recorded");
}

#[test]
fn python_reads_face_metas_and_voices_expression_changes() {
    let out = out_file("expressions.wav");
    let video = neural_media::assets::data_dir().join("media/WolfgangLanger_Pexels.mp4");
    let output = Command::new("/usr/bin/python3")
        .arg(repo().join("pipelines/python-expressions.py"))
        .args([&video, &out])
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .expect("Debian's python3 with python3-gi (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Read from the metas in a pad probe: the face's box and label.
    let seen: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("face 1 at ("))
        .collect();
    assert!(!seen.is_empty(), "{stdout}");
    // Every label change the probe saw was spoken, in order.
    let said: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once(": Person 1 now looks "))
        .map(|(_, w)| w)
        .collect();
    assert_eq!(said.len(), seen.len(), "{stdout}");
    assert!(said.iter().all(|w| w.ends_with('.')), "{stdout}");
    let (_, _, _, data) = wav(&out);
    let loud = data
        .chunks_exact(2)
        .filter(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs() > 1000)
        .count();
    assert!(
        loud > 22050 / 2,
        "speech in the recording ({loud} loud samples)"
    );
}
