//! Run reports: stream a `tasks.jsonl` once ([`read::read_records`]), add it up ([`RunDigest`]:
//! a [`RunSummary`], phase-duration histograms and a sample of tasks for the timeline) and
//! render it as one self-contained HTML page ([`render_html`]).
//!
//! Memory does not grow with the number of records: percentiles come from HDR histograms
//! (within 0.05 % of the exact nearest-rank value), counts by exception type are capped,
//! and the timeline draws a bounded sample.
//!
//! The reader is forgiving, because a run directory may be read while a run is still
//! writing it, or may come from TaPS: unknown keys are ignored, and lines that are not a
//! task record (a partial last line, garbage) are skipped and counted in [`ReadStats`].

#[cfg(test)]
mod accuracy_tests;
pub(crate) mod command;
mod digest;
mod durations;
mod html;
mod phase;
mod read;
mod sample;
mod summary;

use std::path::PathBuf;

pub(crate) use digest::RunDigest;
pub(crate) use html::render_html;
pub(crate) use read::ReadStats;
pub(crate) use summary::SummaryBuilder;

/// Why a task-record file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}
