//! [`render_html`]: one self-contained page with the summary, a timeline of the tasks'
//! phases per worker lane (every task up to [`MAX_BARS`], else a sample), and histograms
//! of the phase durations, all as inline SVG.
//!
//! Lanes: a record whose JSON carries a `worker` key (see [`read_records`]) is drawn
//! in the lane `hostname / worker`. Records without one are packed per host greedily:
//! sorted by `execution_start_time`, each goes to the lowest-numbered lane of its host that
//! is free by then (`hostname #0`, `#1`, ...), so the number of lanes of a host is its peak
//! concurrency. Tasks that never executed are drawn from submit to received in a last
//! `not executed` lane.

mod histogram;
mod lanes;
mod timeline;

use std::fmt::Write;

use super::phase::Phase;
#[cfg(doc)]
use super::read::read_records;
pub use super::sample::MAX_BARS;
use super::summary::human_seconds;
use super::{ReadStats, RunDigest};

/// Width of the lane-label column and of the time axis, in CSS pixels.
pub(crate) const LABEL_W: f64 = 150.0;
pub(crate) const PLOT_W: f64 = 1180.0;
pub(crate) const AXIS_H: f64 = 22.0;

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

/// Renders a run's digest as one self-contained HTML page (no scripts, no network): the
/// [`RunSummary`](super::RunSummary) as text, a timeline with one bar per drawn task (at
/// most [`MAX_BARS`]) and a histogram of each [`Phase`]'s durations.
///
/// `stats` supplies the skipped-line count from [`read_records`]; pass
/// `&ReadStats::default()` for records held in memory. `source` names where the records
/// came from, for the page's heading.
pub fn render_html(digest: &RunDigest, stats: &ReadStats, source: &str) -> String {
    let summary = digest.summary.summary();
    let drawn = digest.timeline.seen().min(MAX_BARS as u64) as usize;
    let mut page = String::with_capacity(4096 + drawn * 400);
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
    timeline::timeline(&mut page, &digest.timeline);
    page.push_str("<h2>Phase durations</h2>\n<div class=\"hists\">\n");
    for phase in Phase::ALL {
        histogram::histogram(&mut page, digest.summary.durations(phase), phase);
    }
    page.push_str(
        "</div>\n<p class=\"note\">Lanes: a record with a <code>worker</code> key is drawn in \
         the lane <i>hostname / worker</i>; other records are packed per host, each into the \
         lowest-numbered lane free at its <code>execution_start_time</code>, so a host has as \
         many lanes as its peak concurrency. Histogram bins are logarithmic (4 per decade); \
         zero and negative durations are counted apart.",
    );
    if let Some(step) = summary.resolution {
        let _ = write!(
            page,
            " Times are <code>f64</code> Unix seconds, {} apart at this date: every duration \
             is a multiple of that step, so bins and figures below about {} are quantised.",
            human_seconds(step),
            human_seconds(100.0 * step)
        );
    }
    page.push_str("</p>\n</body></html>\n");
    page
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
pub(crate) mod tests {
    use super::*;
    use wasmtaps::{ExecutionInfo, TaskInfo};

    pub(crate) fn executed(host: &str, start: f64, end: f64) -> TaskInfo {
        TaskInfo {
            task_id: format!("{host}-{start}"),
            name: "<t>".into(),
            parent_task_ids: vec![],
            submit_time: 0.0,
            received_time: Some(end),
            success: Some(true),
            exception: None,
            execution: Some(ExecutionInfo {
                hostname: host.into(),
                execution_start_time: start,
                execution_end_time: end,
                task_start_time: start,
                task_end_time: end,
                input_transform_start_time: start,
                input_transform_end_time: start,
                result_transform_start_time: end,
                result_transform_end_time: end,
                durations: None,
            }),
        }
    }

    #[test]
    fn page_has_one_escaped_bar_per_task() {
        let records: Vec<TaskInfo> = (0..5)
            .map(|i| executed("h", f64::from(i), f64::from(i) + 0.5))
            .collect();
        let page = render_html(
            &RunDigest::from_records(records),
            &ReadStats::default(),
            "x<y",
        );
        assert_eq!(page.matches("<g class=\"task\">").count(), 5);
        assert!(page.contains("x&lt;y") && page.contains("&lt;t&gt;"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn large_runs_are_sampled() {
        let records: Vec<TaskInfo> = (0..(MAX_BARS * 2 + 10))
            .map(|i| executed("h", i as f64, i as f64 + 0.5))
            .collect();
        let page = render_html(
            &RunDigest::from_records(records),
            &ReadStats::default(),
            "big",
        );
        let bars = page.matches("<g class=\"task\">").count();
        assert!(bars <= MAX_BARS, "{bars}");
        assert!(page.contains("Showing"));
    }
}
