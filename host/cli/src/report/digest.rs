//! [`RunDigest`]: everything the report shows about a run, gathered in one pass over its
//! records in memory that does not grow with the number of tasks.

use std::path::Path;

use super::ReportError;
use super::read::{ReadStats, read_records};
use super::sample::TimelineSample;
use super::summary::SummaryBuilder;
use wasmtaps::TaskInfo;

/// The summary, the phase durations and the timeline's sample of a run.
#[derive(Debug, Default)]
pub struct RunDigest {
    /// Counts, wall time and phase durations.
    pub summary: SummaryBuilder,
    /// The records the timeline draws.
    pub timeline: TimelineSample,
}

impl RunDigest {
    /// Adds the next record of the run, with its optional `worker` key.
    pub fn add(&mut self, info: TaskInfo, worker: Option<String>) {
        self.summary.add(&info);
        self.timeline.add(info, worker);
    }

    /// Digests records held in memory, none with a worker key.
    #[cfg(test)]
    pub fn from_records(records: impl IntoIterator<Item = TaskInfo>) -> RunDigest {
        let mut digest = RunDigest::default();
        for info in records {
            digest.add(info, None);
        }
        digest
    }

    /// Digests a `tasks.jsonl` as [`read_records`] reads it.
    ///
    /// # Errors
    ///
    /// [`ReportError::Read`] when the file cannot be opened or read.
    pub fn from_file(path: impl AsRef<Path>) -> Result<(RunDigest, ReadStats), ReportError> {
        let mut digest = RunDigest::default();
        let stats = read_records(path, |info, worker| digest.add(info, worker))?;
        Ok((digest, stats))
    }
}
