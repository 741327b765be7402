// SPDX-License-Identifier: MPL-2.0
//! What SSML costs before synthesis, on `benches/paragraph.txt`: `ssml::parse` of the paragraph
//! as an SSML document (each sentence in an `<s>` after a `<mark>`), `ssml::plan` of it (the
//! phonemizer included) and, for comparison, the plain-text front end (`text_to_ids`) on the
//! same text. Run by `benches/tts_bench.py` (`cargo bench --bench ssml_parse`), which relates the
//! times to the element's synthesis time; prints one JSON object of medians in seconds:
//! `{"parse_s", "plan_s", "front_s", "iterations", "bytes"}`.

use std::time::Instant;

use neural_media::tts::ssml;
use neural_media::tts::{Chunking, Phonemizer, VoiceConfig, text_to_ids};

struct Espeak;

impl Phonemizer for Espeak {
    fn phonemize(&self, voice: &str, text: &str) -> neural_media::Result<String> {
        espeak_ng::phonemize(voice, text)
            .map_err(|e| neural_media::Error::Phonemizer(e.to_string()))
    }
}

const ITERATIONS: usize = 50;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let paragraph =
        std::fs::read_to_string(root.join("benches/paragraph.txt")).expect("benches/paragraph.txt");
    let mut document = String::from("<speak><p>");
    for (i, sentence) in paragraph.split_inclusive(". ").enumerate() {
        let escaped = sentence.trim().replace('&', "&amp;").replace('<', "&lt;");
        document.push_str(&format!("<mark name=\"s{i}\"/><s>{escaped}</s> "));
    }
    document.push_str("</p></speak>");
    let mut path =
        neural_media::assets::data_file(neural_media::assets::DEFAULT_VOICE).into_os_string();
    path.push(".json");
    let config =
        VoiceConfig::load(path.as_ref()).expect("the voice configuration (scripts/setup.sh)");

    let (mut parse, mut plan, mut front) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ITERATIONS {
        let t = Instant::now();
        let doc = ssml::parse(&document);
        parse.push(t.elapsed().as_secs_f64());
        assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
        let t = Instant::now();
        let (steps, _) =
            ssml::plan(&doc, &config, &Espeak, Chunking::Sentence, true).expect("plan");
        plan.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let chunks = text_to_ids(&paragraph, &config, &Espeak, Chunking::Sentence).expect("front");
        front.push(t.elapsed().as_secs_f64());
        let runs = steps
            .iter()
            .filter(|s| matches!(s, ssml::Step::Run { .. }))
            .count();
        assert_eq!(runs, chunks.len());
    }
    println!(
        "{{\"parse_s\": {:e}, \"plan_s\": {:e}, \"front_s\": {:e}, \"iterations\": {ITERATIONS}, \"bytes\": {}}}",
        median(parse),
        median(plan),
        median(front),
        document.len()
    );
}
