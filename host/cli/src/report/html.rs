//! [`render_html`]: one self-contained page with the summary, a timeline of every task's
//! phases per worker lane (lanes as [`super::lanes`] assigns them), and histograms of the
//! phase durations, all as inline SVG.

use std::fmt::Write;

use super::ReadStats;
use super::lanes::assign_lanes;
use super::summary::{Phase, RunSummary, human_seconds};
use wasmtaps::TaskInfo;

/// The most task bars [`render_html`] draws; above it the timeline shows an even sample
/// (plus failed tasks) and says so.
pub const MAX_BARS: usize = 20_000;

/// Width of the lane-label column and of the time axis, in CSS pixels.
const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = 1180.0;
const AXIS_H: f64 = 22.0;

/// Phase colours; the page's CSS and the histograms use the same ones.
const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 6px; }
pre.summary { background: #f6f6f6; padding: 8px 12px; margin: 8px 0; font-size: 12px; }
p.note { color: #555; margin: 4px 0; } p.warn { color: #a40000; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin-right: 4px; }
.scroll { overflow-x: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
.hist rect { fill-opacity: .7; }
.hists { display: flex; flex-wrap: wrap; gap: 8px 20px; }
.lane0 { fill: #fafafa; } .lane1 { fill: #f0f0f0; } .grid { stroke: #ddd; }
.q { fill: #9ecae1; } .o { fill: #bdbdbd; } .i { fill: #ff7f0e; } .t { fill: #1f77b4; }
.r { fill: #2ca02c; } .x { fill: #7f7f7f; } .l { fill: #9467bd; } .n { fill: #d9d9d9; }
.nf { fill: #d9d9d9; stroke: #d62728; stroke-width: 1.5; }
.fail { fill: none; stroke: #d62728; stroke-width: 1.5; }
"#;

/// The fill class of each phase, as used in [`STYLE`].
fn phase_class(phase: Phase) -> &'static str {
    match phase {
        Phase::Queue => "q",
        Phase::InputTransform => "i",
        Phase::Task => "t",
        Phase::ResultTransform => "r",
        Phase::Execution => "x",
        Phase::ReceivedLag => "l",
    }
}

/// Renders `records` as one self-contained HTML page (no scripts, no network): the
/// [`RunSummary`] as text, a timeline with one bar per task (at most [`MAX_BARS`]) and a
/// histogram of each [`Phase`]'s durations.
///
/// `stats` supplies the worker keys and skipped-line count from
/// [`read_records`](super::read_records); pass `&ReadStats::default()` for records held in
/// memory. `source` names where the records came from, for the page's heading.
pub fn render_html(records: &[TaskInfo], stats: &ReadStats, source: &str) -> String {
    let summary = RunSummary::from_records(records);
    let mut page = String::with_capacity(4096 + records.len().min(MAX_BARS) * 400);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>wasmtaps report: {src}</title><style>{STYLE}</style></head><body>\n\
         <h1>wasmtaps report</h1><p class=\"note\">{src}</p>\n\
         <pre class=\"summary\">{summary}</pre>\n",
        src = escape(source),
        summary = escape(&summary.to_string()),
    );
    if let Some(message) = stats.skipped_message() {
        let _ = writeln!(page, "<p class=\"warn\">{}</p>", escape(&message));
    }
    page.push_str("<h2>Timeline</h2>\n");
    timeline(&mut page, records, &stats.workers);
    page.push_str("<h2>Phase durations</h2>\n<div class=\"hists\">\n");
    for phase in Phase::ALL {
        histogram(&mut page, records, phase);
    }
    page.push_str(
        "</div>\n<p class=\"note\">Lanes: a record with a <code>worker</code> key is drawn in \
         the lane <i>hostname / worker</i>; other records are packed per host, each into the \
         lowest-numbered lane free at its <code>execution_start_time</code>, so a host has as \
         many lanes as its peak concurrency. Histogram bins are logarithmic (4 per decade); \
         zero and negative durations are counted apart.</p>\n</body></html>\n",
    );
    page
}

/// A "nice" tick step (1, 2 or 5 × 10^k) that gives about `target` ticks over `span`.
fn tick_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * base)
}

fn timeline(page: &mut String, records: &[TaskInfo], workers: &[Option<String>]) {
    if records.is_empty() {
        page.push_str("<p class=\"note\">No task records.</p>\n");
        return;
    }
    let lanes = assign_lanes(records, workers);
    let mut t0 = f64::INFINITY;
    let mut t1 = f64::NEG_INFINITY;
    for r in records {
        t0 = t0.min(r.submit_time);
        t1 = t1.max(r.submit_time);
        if let Some(t) = r.received_time {
            t1 = t1.max(t);
        }
        if let Some(e) = &r.execution {
            t0 = t0.min(e.execution_start_time);
            t1 = t1.max(e.execution_end_time);
        }
    }
    let span = if t1 > t0 { t1 - t0 } else { 1e-3 };
    let x = |t: f64| LABEL_W + (t - t0) / span * PLOT_W;

    // Which bars to draw: all, or every k-th plus failed tasks up to a tenth of the cap.
    let stride = records.len().div_ceil(MAX_BARS);
    let mut extra_failed = 0;
    let drawn: Vec<usize> = (0..records.len())
        .filter(|&i| {
            if i % stride == 0 {
                return true;
            }
            let keep = records[i].success == Some(false) && extra_failed < MAX_BARS / 10;
            extra_failed += usize::from(keep);
            keep
        })
        .collect();

    let n_lanes = lanes.labels.len();
    let lane_h = (600.0 / n_lanes as f64).clamp(2.0, 26.0);
    let height = AXIS_H + lane_h * n_lanes as f64 + 4.0;
    let width = LABEL_W + PLOT_W + 20.0;

    page.push_str(
        "<p class=\"legend\"><span><i class=\"q\" style=\"background:#9ecae1\"></i>queue \
         (submit → start)</span><span><i style=\"background:#bdbdbd\"></i>execution overhead\
         </span><span><i style=\"background:#ff7f0e\"></i>input transform</span><span>\
         <i style=\"background:#1f77b4\"></i>task</span><span><i style=\"background:#2ca02c\">\
         </i>result transform</span><span><i style=\"background:#d9d9d9\"></i>not executed \
         (submit → received)</span><span><i style=\"border:2px solid #d62728;width:8px;\
         height:8px\"></i>failed</span></p>\n",
    );
    let _ = writeln!(
        page,
        "<p class=\"note\">{} tasks in {} lanes over {}; hover a bar for its phases.{}</p>",
        records.len(),
        n_lanes,
        human_seconds(span),
        if drawn.len() < records.len() {
            format!(
                " <b>Showing {} of {} tasks</b>: every {stride}th task plus failed ones, to \
                 keep the page fast; the summary and histograms count all tasks.",
                drawn.len(),
                records.len()
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        page,
        "<div class=\"scroll\"><svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width:.0}\" height=\"{height:.0}\" shape-rendering=\"crispEdges\">"
    );
    // Lane stripes and labels.
    let label_every = (11.0 / lane_h).ceil().max(1.0) as usize;
    for (k, label) in lanes.labels.iter().enumerate() {
        let y = AXIS_H + k as f64 * lane_h;
        let _ = write!(
            page,
            "<rect class=\"lane{}\" x=\"0\" y=\"{y:.1}\" width=\"{width:.0}\" height=\"{lane_h:.1}\"/>",
            k % 2
        );
        if k % label_every == 0 {
            let _ = write!(
                page,
                "<text x=\"4\" y=\"{:.1}\">{}</text>",
                y + lane_h / 2.0 + 4.0,
                escape(label)
            );
        }
    }
    page.push('\n');
    // Time axis.
    let step = tick_step(span, 10.0);
    let mut k = 0.0;
    while k * step <= span * 1.0001 {
        let tx = x(t0 + k * step);
        let _ = write!(
            page,
            "<line class=\"grid\" x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{:.1}\" y2=\"{height:.1}\"/>\
             <text x=\"{tx:.1}\" y=\"14\" text-anchor=\"middle\">+{}</text>",
            AXIS_H - 4.0,
            human_seconds(k * step)
        );
        k += 1.0;
    }
    page.push('\n');
    // Queue whiskers first, so that execution bars in the same lane cover them.
    for &i in &drawn {
        let r = &records[i];
        if let Some(e) = &r.execution {
            let (queue_x, xs) = (x(r.submit_time), x(e.execution_start_time));
            if xs - queue_x >= 0.5 {
                let y = AXIS_H + lanes.of_record[i] as f64 * lane_h;
                let _ = write!(
                    page,
                    "<rect class=\"q\" x=\"{queue_x:.1}\" y=\"{:.1}\" width=\"{:.1}\" \
                     height=\"{:.1}\"/>",
                    y + lane_h * 0.4,
                    xs - queue_x,
                    (lane_h * 0.2).max(1.0)
                );
            }
        }
    }
    page.push('\n');
    // One group per drawn task.
    for &i in &drawn {
        let r = &records[i];
        let y = AXIS_H + lanes.of_record[i] as f64 * lane_h;
        let (bar_y, bar_h) = (y + lane_h * 0.1, lane_h * 0.8);
        let failed = r.success == Some(false);
        let _ = write!(
            page,
            "<g class=\"task\"><title>{}</title>",
            escape(&tooltip(r))
        );
        match &r.execution {
            Some(e) => {
                let (xs, xe) = (x(e.execution_start_time), x(e.execution_end_time));
                let bar_w = (xe - xs).max(1.0);
                let _ = write!(
                    page,
                    "<rect class=\"o\" x=\"{xs:.1}\" y=\"{bar_y:.1}\" width=\"{bar_w:.1}\" \
                     height=\"{bar_h:.1}\"/>"
                );
                for (class, start, end) in [
                    (
                        "i",
                        e.input_transform_start_time,
                        e.input_transform_end_time,
                    ),
                    ("t", e.task_start_time, e.task_end_time),
                    (
                        "r",
                        e.result_transform_start_time,
                        e.result_transform_end_time,
                    ),
                ] {
                    let (ps, pe) = (x(start), x(end));
                    if pe - ps >= 0.05 {
                        let _ = write!(
                            page,
                            "<rect class=\"{class}\" x=\"{ps:.2}\" y=\"{bar_y:.1}\" \
                             width=\"{:.2}\" height=\"{bar_h:.1}\"/>",
                            pe - ps
                        );
                    }
                }
                if failed {
                    let _ = write!(
                        page,
                        "<rect class=\"fail\" x=\"{xs:.1}\" y=\"{bar_y:.1}\" \
                         width=\"{bar_w:.1}\" height=\"{bar_h:.1}\"/>"
                    );
                }
            }
            None => {
                let xs = x(r.submit_time);
                let xe = x(r.received_time.unwrap_or(r.submit_time));
                let bar_w = (xe - xs).max(2.0);
                let class = if failed { "nf" } else { "n" };
                let _ = write!(
                    page,
                    "<rect class=\"{class}\" x=\"{xs:.1}\" y=\"{bar_y:.1}\" width=\"{bar_w:.1}\" \
                     height=\"{bar_h:.1}\"/>"
                );
            }
        }
        page.push_str("</g>\n");
    }
    page.push_str("</svg></div>\n");
}

/// The hover text of one task's bar.
fn tooltip(r: &TaskInfo) -> String {
    let mut text = format!("{} {}", r.name, r.task_id);
    match &r.execution {
        Some(e) => {
            let _ = write!(text, "\nhost {}", e.hostname);
            for phase in Phase::ALL {
                if let Some(d) = phase.duration(r) {
                    let _ = write!(text, "\n{}: {}", phase.label(), human_seconds(d));
                }
            }
        }
        None => text.push_str("\nnever executed"),
    }
    let status = match r.success {
        Some(true) => "succeeded",
        Some(false) => "failed",
        None => "unfinished",
    };
    let _ = write!(text, "\n{status}");
    if let Some(x) = &r.exception {
        let message: String = x.message.chars().take(300).collect();
        let _ = write!(text, ": {}: {message}", x.kind);
    }
    text
}

/// Bins per decade of the logarithmic histograms.
const BINS_PER_DECADE: f64 = 4.0;

fn histogram(page: &mut String, records: &[TaskInfo], phase: Phase) {
    const W: f64 = 420.0;
    const H: f64 = 170.0;
    const LEFT: f64 = 44.0;
    const TOP: f64 = 22.0;
    const PLOT_H: f64 = 116.0;
    let durations: Vec<f64> = records.iter().filter_map(|r| phase.duration(r)).collect();
    let non_positive = durations.iter().filter(|&&d| d <= 0.0).count();
    let logs: Vec<f64> = durations
        .iter()
        .filter(|&&d| d > 0.0)
        .map(|d| d.log10())
        .collect();
    let _ = write!(
        page,
        "<svg class=\"hist\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\">\
         <text x=\"{LEFT}\" y=\"14\" font-weight=\"bold\">{} ({} tasks{})</text>",
        escape(phase.label()),
        durations.len(),
        if non_positive > 0 {
            format!(", {non_positive} ≤ 0")
        } else {
            String::new()
        }
    );
    if logs.is_empty() {
        let _ = writeln!(
            page,
            "<text x=\"{LEFT}\" y=\"{}\">no positive durations</text></svg>",
            TOP + 40.0
        );
        return;
    }
    let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let first = (lo * BINS_PER_DECADE).floor() as i64;
    let last = ((hi * BINS_PER_DECADE).floor() as i64).max(first);
    let n_bins = (last - first + 1) as usize;
    let mut counts = vec![0usize; n_bins];
    for l in &logs {
        let bin = ((l * BINS_PER_DECADE).floor() as i64 - first).clamp(0, n_bins as i64 - 1);
        counts[bin as usize] += 1;
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

/// Escapes text for HTML and SVG content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::executed;

    #[test]
    fn page_has_one_escaped_bar_per_task() {
        let records: Vec<TaskInfo> = (0..5)
            .map(|i| executed("h", f64::from(i), f64::from(i) + 0.5))
            .collect();
        let page = render_html(&records, &ReadStats::default(), "x<y");
        assert_eq!(page.matches("<g class=\"task\">").count(), 5);
        assert!(page.contains("x&lt;y") && page.contains("&lt;t&gt;"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn large_runs_are_sampled() {
        let records: Vec<TaskInfo> = (0..(MAX_BARS * 2 + 10))
            .map(|i| executed("h", i as f64, i as f64 + 0.5))
            .collect();
        let page = render_html(&records, &ReadStats::default(), "big");
        let bars = page.matches("<g class=\"task\">").count();
        assert!(bars <= MAX_BARS, "{bars}");
        assert!(page.contains("Showing"));
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(tick_step(10.0, 10.0), 1.0);
        assert_eq!(tick_step(0.3, 10.0), 0.05);
        assert_eq!(tick_step(73.0, 10.0), 10.0);
    }
}
