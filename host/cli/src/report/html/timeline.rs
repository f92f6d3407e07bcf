//! The timeline: one bar per drawn task, its phases coloured, in per-worker lanes.

use std::fmt::Write;

use super::lanes::assign_lanes;
use super::{AXIS_H, LABEL_W, PLOT_W, escape};
use crate::report::phase::Phase;
use crate::report::sample::TimelineSample;
use crate::report::summary::human_seconds;
use wasmtaps::TaskInfo;

/// A "nice" tick step (1, 2 or 5 × 10^k) that gives about `target` ticks over `span`.
pub fn tick_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * base)
}

/// Draws the timeline of `sample`: one bar per drawn task, in its lane.
pub fn timeline(page: &mut String, sample: &TimelineSample) {
    let Some((t0, t1)) = sample.span() else {
        page.push_str("<p class=\"note\">No task records.</p>\n");
        return;
    };
    let drawn = sample.drawn();
    let lanes = assign_lanes(&drawn);
    let span = if t1 > t0 { t1 - t0 } else { 1e-3 };
    let x = |t: f64| LABEL_W + (t - t0) / span * PLOT_W;

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
    let total = sample.seen();
    let _ = writeln!(
        page,
        "<p class=\"note\">{total} tasks in {n_lanes} lanes over {}; hover a bar for its \
         phases.{}</p>",
        human_seconds(span),
        if (drawn.len() as u64) < total {
            format!(
                " <b>Showing {} of {total} tasks</b>: a uniform random sample plus failed \
                 ones, to keep the page fast (lanes are packed over the tasks shown); the \
                 summary and histograms count all tasks.",
                drawn.len(),
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
    for (k, task) in drawn.iter().enumerate() {
        let r = &task.info;
        if let Some(e) = &r.execution {
            let (queue_x, xs) = (x(r.submit_time), x(e.execution_start_time));
            if xs - queue_x >= 0.5 {
                let y = AXIS_H + lanes.of_record[k] as f64 * lane_h;
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
    for (k, task) in drawn.iter().enumerate() {
        let r = &task.info;
        let y = AXIS_H + lanes.of_record[k] as f64 * lane_h;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        assert_eq!(tick_step(10.0, 10.0), 1.0);
        assert_eq!(tick_step(0.3, 10.0), 0.05);
        assert_eq!(tick_step(73.0, 10.0), 10.0);
    }
}
