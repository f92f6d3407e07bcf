//! One histogram per phase: counts of durations in logarithmic bins, as inline SVG.

use std::fmt::Write;

use super::{escape, phase_class};
use crate::report::durations::{BINS_PER_DECADE, Durations};
use crate::report::phase::Phase;
use crate::report::summary::human_seconds;

/// The bins drawn: 1 ps to 10^10 s (about 300 years); durations beyond go in the edge bins.
const BIN_RANGE: std::ops::RangeInclusive<i32> = -48..=39;

/// Draws the histogram of `phase`'s `durations`.
pub fn histogram(page: &mut String, durations: &Durations, phase: Phase) {
    const W: f64 = 420.0;
    const H: f64 = 170.0;
    const LEFT: f64 = 44.0;
    const TOP: f64 = 22.0;
    const PLOT_H: f64 = 116.0;
    let non_positive = durations.non_positive();
    let _ = write!(
        page,
        "<svg class=\"hist\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\">\
         <text x=\"{LEFT}\" y=\"14\" font-weight=\"bold\">{} ({} tasks{})</text>",
        escape(phase.label()),
        durations.count(),
        if non_positive > 0 {
            format!(", {non_positive} ≤ 0")
        } else {
            String::new()
        }
    );
    let bins = durations.log_bins();
    let clamp = |k: i32| k.clamp(*BIN_RANGE.start(), *BIN_RANGE.end());
    let (Some((&lo, _)), Some((&hi, _))) = (bins.first_key_value(), bins.last_key_value()) else {
        let _ = writeln!(
            page,
            "<text x=\"{LEFT}\" y=\"{}\">no positive durations</text></svg>",
            TOP + 40.0
        );
        return;
    };
    let first = i64::from(clamp(lo));
    let last = i64::from(clamp(hi)).max(first);
    let n_bins = (last - first + 1) as usize;
    let mut counts = vec![0u64; n_bins];
    for (&k, &n) in bins {
        counts[(i64::from(clamp(k)) - first) as usize] += n;
    }
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    let plot_w = W - LEFT - 28.0;
    let bin_w = plot_w / n_bins as f64;
    let base_y = TOP + PLOT_H;
    let _ = write!(
        page,
        "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{base_y}\" y2=\"{base_y}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{peak}</text>\
         <text x=\"{:.1}\" y=\"{base_y}\" text-anchor=\"end\">0</text>",
        LEFT + plot_w,
        LEFT - 4.0,
        TOP + 8.0,
        LEFT - 4.0
    );
    for (k, &count) in counts.iter().enumerate() {
        let from = 10f64.powf((first + k as i64) as f64 / BINS_PER_DECADE);
        let to = 10f64.powf((first + k as i64 + 1) as f64 / BINS_PER_DECADE);
        let h = count as f64 / peak as f64 * PLOT_H;
        let bx = LEFT + k as f64 * bin_w;
        let _ = write!(
            page,
            "<rect class=\"{}\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{} – {}: {count} tasks</title></rect>",
            phase_class(phase),
            base_y - h,
            (bin_w - 1.0).max(0.5),
            human_seconds(from),
            human_seconds(to)
        );
    }
    // Decade labels (thinned so they do not overlap).
    let decades = (first as f64 / BINS_PER_DECADE).ceil() as i64
        ..=((last + 1) as f64 / BINS_PER_DECADE).floor() as i64;
    let n_decades = decades.clone().count().max(1);
    let every = n_decades.div_ceil(6);
    for (j, d) in decades.enumerate() {
        if j % every != 0 {
            continue;
        }
        let dx = LEFT + (d as f64 * BINS_PER_DECADE - first as f64) * bin_w;
        let _ = write!(
            page,
            "<line class=\"grid\" x1=\"{dx:.1}\" x2=\"{dx:.1}\" y1=\"{base_y}\" y2=\"{:.1}\"/>\
             <text x=\"{dx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base_y + 4.0,
            base_y + 16.0,
            human_seconds(10f64.powi(d as i32))
        );
    }
    page.push_str("</svg>\n");
}
