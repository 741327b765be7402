// SPDX-License-Identifier: MPL-2.0
//! Which expression changes deserve a sentence, and the sentence: GStreamer-free, unit-tested.

use std::collections::HashMap;

/// A track not seen for this long (stream time, ns) is forgotten; if its id comes back it is a
/// new face again. Bounds the per-track table on long streams.
const FORGET_AFTER_NS: u64 = 60_000_000_000;

/// What decides whether a change is spoken.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// A face seen for the first time is a change (from no label).
    pub announce_new_faces: bool,
    /// At most one sentence per track in this time (ns); changes within it are dropped.
    pub min_interval_ns: u64,
}

/// One change to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub track_id: u64,
    /// `None` for a new face.
    pub old_label: Option<String>,
    pub new_label: String,
}

#[derive(Debug)]
struct Track {
    label: String,
    last_spoken_ns: Option<u64>,
    last_seen_ns: u64,
}

/// Per-track last label and last spoken time.
///
/// When a label changes is decided once, upstream, by `faceexpression`'s hysteresis (which also
/// posts `expression-changed`); the metas only carry each face's current label. This element sees
/// nothing but those metas, possibly from another source, after frames were dropped in between,
/// or after its own flush, so it remembers the last label *it* saw per track: a different label
/// means the decided label moved on. It applies no rule of its own to the probabilities.
#[derive(Debug, Default)]
pub struct Narrator {
    tracks: HashMap<u64, Track>,
}

impl Narrator {
    /// Forgets every track (flush, new stream).
    pub fn reset(&mut self) {
        self.tracks.clear();
    }

    /// Number of tracks remembered.
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Takes the faces `(track id, smoothed label)` of the frame at `pts_ns` and returns the
    /// changes to speak, in the order of `faces`. Every label is remembered, spoken or not.
    pub fn observe(&mut self, pts_ns: u64, faces: &[(u64, String)], rules: Rules) -> Vec<Change> {
        let mut changes = Vec::new();
        for (track_id, label) in faces {
            let (old_label, wanted, track) = match self.tracks.get_mut(track_id) {
                Some(track) => {
                    track.last_seen_ns = pts_ns;
                    if track.label == *label {
                        continue;
                    }
                    let old = std::mem::replace(&mut track.label, label.clone());
                    (Some(old), true, track)
                }
                None => {
                    let track = self.tracks.entry(*track_id).or_insert(Track {
                        label: label.clone(),
                        last_spoken_ns: None,
                        last_seen_ns: pts_ns,
                    });
                    (None, rules.announce_new_faces, track)
                }
            };
            if !wanted {
                continue;
            }
            let quiet_enough = track
                .last_spoken_ns
                .is_none_or(|t| pts_ns.saturating_sub(t) >= rules.min_interval_ns);
            if quiet_enough {
                track.last_spoken_ns = Some(pts_ns);
                changes.push(Change {
                    track_id: *track_id,
                    old_label,
                    new_label: label.clone(),
                });
            }
        }
        self.tracks
            .retain(|_, t| pts_ns.saturating_sub(t.last_seen_ns) < FORGET_AFTER_NS);
        changes
    }
}

/// The adjective for a classifier label (`fear` → `afraid`); unknown labels as they are.
pub fn adjective(label: &str) -> &str {
    match label {
        "angry" => "angry",
        "disgust" => "disgusted",
        "fear" => "afraid",
        "happy" => "happy",
        "sad" => "sad",
        "surprise" => "surprised",
        "neutral" => "neutral",
        other => other,
    }
}

/// Fills `{id}` and `{label}` (as an adjective) in `template`; other text is kept as it is.
pub fn render(template: &str, change: &Change) -> String {
    template
        .replace("{id}", &change.track_id.to_string())
        .replace("{label}", adjective(&change.new_label))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn rules(announce_new_faces: bool) -> Rules {
        Rules {
            announce_new_faces,
            min_interval_ns: 1500 * MS,
        }
    }

    fn faces(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|&(id, l)| (id, l.to_string())).collect()
    }

    fn labels(changes: &[Change]) -> Vec<(u64, &str)> {
        changes
            .iter()
            .map(|c| (c.track_id, c.new_label.as_str()))
            .collect()
    }

    #[test]
    fn new_faces_and_changes() {
        let mut n = Narrator::default();
        let c = n.observe(0, &faces(&[(1, "sad"), (2, "happy")]), rules(true));
        assert_eq!(labels(&c), [(1, "sad"), (2, "happy")]);
        assert_eq!(c[0].old_label, None);
        assert!(
            n.observe(40 * MS, &faces(&[(1, "sad")]), rules(true))
                .is_empty()
        );
        let c = n.observe(2000 * MS, &faces(&[(1, "fear"), (2, "happy")]), rules(true));
        assert_eq!(labels(&c), [(1, "fear")]);
        assert_eq!(c[0].old_label.as_deref(), Some("sad"));
    }

    #[test]
    fn new_faces_silent_when_not_announced() {
        let mut n = Narrator::default();
        assert!(n.observe(0, &faces(&[(1, "sad")]), rules(false)).is_empty());
        // The first change after a silent new face is spoken at once.
        let c = n.observe(100 * MS, &faces(&[(1, "happy")]), rules(false));
        assert_eq!(labels(&c), [(1, "happy")]);
    }

    #[test]
    fn min_interval_drops_but_remembers() {
        let mut n = Narrator::default();
        assert_eq!(n.observe(0, &faces(&[(1, "sad")]), rules(true)).len(), 1);
        // Within 1.5 s: dropped, but "angry" is now the last label.
        assert!(
            n.observe(500 * MS, &faces(&[(1, "angry")]), rules(true))
                .is_empty()
        );
        assert!(
            n.observe(1600 * MS, &faces(&[(1, "angry")]), rules(true))
                .is_empty()
        );
        let c = n.observe(1700 * MS, &faces(&[(1, "happy")]), rules(true));
        assert_eq!(c[0].old_label.as_deref(), Some("angry"));
        // The window is per track.
        let c = n.observe(1800 * MS, &faces(&[(2, "sad")]), rules(true));
        assert_eq!(labels(&c), [(2, "sad")]);
    }

    #[test]
    fn forgotten_tracks_are_new_again() {
        let mut n = Narrator::default();
        n.observe(0, &faces(&[(1, "sad")]), rules(true));
        n.observe(FORGET_AFTER_NS + 1, &faces(&[(2, "sad")]), rules(true));
        assert_eq!(n.tracks(), 1);
        n.reset();
        assert_eq!(n.tracks(), 0);
    }

    #[test]
    fn sentences() {
        let change = |label: &str| Change {
            track_id: 3,
            old_label: None,
            new_label: label.into(),
        };
        let t = "Person {id} now looks {label}.";
        assert_eq!(render(t, &change("fear")), "Person 3 now looks afraid.");
        assert_eq!(
            render(t, &change("surprise")),
            "Person 3 now looks surprised."
        );
        assert_eq!(render(t, &change("bored")), "Person 3 now looks bored.");
        assert_eq!(render("{label}!", &change("disgust")), "disgusted!");
    }
}
