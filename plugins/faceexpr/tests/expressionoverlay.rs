// SPDX-License-Identifier: MPL-2.0
//! `expressionoverlay` draws boxes and labels from face ROI metas, in the right colour channels for
//! each packed RGB layout, and leaves frames without faces untouched.

fn init() {
    neural_media_test_support::init_once(gstfaceexpr::plugin_register_static);
}

const W: u32 = 64;
const H: u32 = 96;

fn harness(format: &str, props: &str) -> gst_check::Harness {
    let mut h = gst_check::Harness::new_parse(&format!("expressionoverlay {props}"));
    h.set_src_caps_str(&format!(
        "video/x-raw,format={format},width={W},height={H},framerate=30/1"
    ));
    h
}

fn black_frame(bpp: usize, with_face: bool) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(vec![0u8; W as usize * H as usize * bpp]);
    {
        let buffer = buffer.get_mut().unwrap();
        buffer.set_pts(gst::ClockTime::from_mseconds(40));
        if with_face {
            let mut meta =
                gst_video::VideoRegionOfInterestMeta::add(buffer, "face", (20, 20, 20, 20));
            meta.set_id(1);
            meta.add_param(
                gst::Structure::builder("expression")
                    .field("label", "happy")
                    .field("confidence", 0.9f64)
                    .build(),
            );
            meta.add_param(
                gst::Structure::builder("probabilities")
                    .field("happy", 0.9f64)
                    .field("sad", 0.1f64)
                    .build(),
            );
        }
    }
    buffer
}

fn pixel(data: &[u8], bpp: usize, x: u32, y: u32) -> &[u8] {
    let at = (y * W + x) as usize * bpp;
    &data[at..at + bpp]
}

/// Track id 1 is drawn in PALETTE[1] = #3498db.
const TRACK1: [u8; 3] = [0x34, 0x98, 0xdb];

#[test]
fn draws_box_in_track_colour_for_rgb_and_bgrx() {
    init();
    for (format, bpp, order) in [("RGB", 3usize, [0usize, 1, 2]), ("BGRx", 4, [2, 1, 0])] {
        let mut h = harness(format, "show-probabilities=true");
        let out = h.push_and_pull(black_frame(bpp, true)).expect("frame out");
        assert_eq!(out.pts(), Some(gst::ClockTime::from_mseconds(40)));
        assert_eq!(
            out.iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .count(),
            1,
            "metas travel downstream"
        );
        let map = out.map_readable().unwrap();
        let edge = pixel(&map, bpp, 30, 20);
        let rgb = [edge[order[0]], edge[order[1]], edge[order[2]]];
        assert_eq!(rgb, TRACK1, "{format}: top edge of the box");
        assert_eq!(
            &pixel(&map, bpp, 30, 30)[..3],
            &[0, 0, 0],
            "{format}: inside of the box stays"
        );
        assert_eq!(
            &pixel(&map, bpp, 2, 90)[..3],
            &[0, 0, 0],
            "{format}: far corner stays"
        );
        // Probability bars below the box: "happy" (0.9) first, filled in the track colour
        // right of its 3-letter name.
        let bar = pixel(&map, bpp, 50, 45);
        assert_eq!(
            [bar[order[0]], bar[order[1]], bar[order[2]]],
            TRACK1,
            "{format}: happy bar"
        );
        // The label sits above the box: some pixels of rows 9..20 carry the track colour.
        let label_pixels = (9..20)
            .flat_map(|y| (20..W).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = pixel(&map, bpp, x, y);
                [p[order[0]], p[order[1]], p[order[2]]] == TRACK1
            })
            .count();
        assert!(
            label_pixels > 50,
            "{format}: label background drawn ({label_pixels} px)"
        );
    }
}

#[test]
fn frames_without_faces_are_untouched() {
    init();
    let mut h = harness("RGBA", "");
    let out = h.push_and_pull(black_frame(4, false)).expect("frame out");
    let map = out.map_readable().unwrap();
    assert!(map.iter().all(|&b| b == 0));
}

/// `privacy`: the pixels inside the face box change (blurred or pixelated), the pixels outside it
/// do not, with the box outline and labels off.
#[test]
fn privacy_changes_the_face_box_and_nothing_else() {
    init();
    let bpp = 4;
    // A fine pattern, so that both a blur and a pixelation change nearly every pixel.
    let pattern: Vec<u8> = (0..W as usize * H as usize * bpp)
        .map(|i| ((i * 37 + i / 256 * 11) % 251) as u8)
        .collect();
    let face = (16u32, 24u32, 32u32, 40u32);
    for privacy in ["blur", "pixelate"] {
        let mut h = harness(
            "BGRx",
            &format!("privacy={privacy} show-labels=false line-width=1"),
        );
        let mut buffer = gst::Buffer::from_mut_slice(pattern.clone());
        {
            let buffer = buffer.get_mut().unwrap();
            buffer.set_pts(gst::ClockTime::ZERO);
            gst_video::VideoRegionOfInterestMeta::add(buffer, "face", face).set_id(1);
        }
        let out = h.push_and_pull(buffer).expect("frame out");
        let map = out.map_readable().unwrap();
        let (fx, fy, fw, fh) = face;
        let mut changed_inside = 0;
        let mut inside = 0;
        for y in 0..H {
            for x in 0..W {
                let same = pixel(&map, bpp, x, y) == pixel(&pattern, bpp, x, y);
                let in_box = (fx..fx + fw).contains(&x) && (fy..fy + fh).contains(&y);
                if in_box {
                    inside += 1;
                    changed_inside += usize::from(!same);
                } else {
                    assert!(same, "{privacy}: pixel ({x}, {y}) outside the face changed");
                }
            }
        }
        assert!(
            changed_inside * 10 >= inside * 9,
            "{privacy}: {changed_inside} of {inside} pixels inside the face changed"
        );
    }
}
