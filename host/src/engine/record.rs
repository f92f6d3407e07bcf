//! Task records: one JSON line per finished task, from a single writer thread.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::info::TaskInfo;

use super::future::Node;

/// Where an [`Engine`](crate::Engine) writes the record ([`TaskInfo`]) of every task.
#[derive(Clone, Debug, Default)]
pub enum RecordSink {
    /// Records are not kept.
    #[default]
    None,
    /// Appended to this file as JSON lines, one whole line per write, flushed to the OS
    /// whenever the writer has nothing more queued.
    File(PathBuf),
    /// Kept in memory (for tests and small runs).
    Memory(RecordCollector),
}

/// Records kept in memory by [`RecordSink::Memory`]. Clones share one list.
#[derive(Clone, Debug, Default)]
pub struct RecordCollector {
    records: Arc<Mutex<Vec<TaskInfo>>>,
}

impl RecordCollector {
    /// An empty collector.
    pub fn new() -> RecordCollector {
        RecordCollector::default()
    }

    /// The records received so far, in the order they were written.
    pub fn records(&self) -> Vec<TaskInfo> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Called on the engine's record thread with every task's record, in the order records
/// are written, after the record is written; see
/// [`EngineBuilder::on_record`](super::EngineBuilder::on_record).
pub type RecordObserver = Arc<dyn Fn(&TaskInfo) + Send + Sync>;

pub(crate) enum RecordMessage {
    Task(Arc<Node>),
    /// Write out everything queued before this, then acknowledge.
    Flush(Sender<()>),
    /// Write out everything queued before this, then exit.
    Stop,
}

enum Output {
    None,
    File(BufWriter<File>),
    Memory(RecordCollector),
}

/// Opens the sink and starts its writer thread; `None` for [`RecordSink::None`] without
/// an observer.
pub(crate) fn start(
    sink: &RecordSink,
    observer: Option<RecordObserver>,
) -> std::io::Result<Option<(Sender<RecordMessage>, JoinHandle<()>)>> {
    let output = match sink {
        RecordSink::None if observer.is_none() => return Ok(None),
        RecordSink::None => Output::None,
        RecordSink::File(path) => Output::File(BufWriter::with_capacity(1 << 16, open(path)?)),
        RecordSink::Memory(collector) => Output::Memory(collector.clone()),
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = std::thread::Builder::new()
        .name("wasmtaps-records".into())
        .spawn(move || writer(output, observer.as_deref(), &rx))?;
    Ok(Some((tx, handle)))
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// While tasks keep ending, the writer sleeps this long between batches instead of being
/// woken for every record: a sender then never has to wake it (no system call per task).
const BATCH_INTERVAL: Duration = Duration::from_millis(1);

/// The longest a record waits in the writer's buffer while tasks keep ending.
const MAX_UNFLUSHED: Duration = Duration::from_millis(5);

/// Runs until told to stop or every sender is gone. Each record is serialised into its own
/// buffer and handed to the `BufWriter` whole, so the bytes reaching the file are always
/// whole lines (the `BufWriter` writes out its buffer before appending a line that does
/// not fit). While records keep coming the writer takes them in batches, one every
/// [`BATCH_INTERVAL`], and hands the buffer to the OS at least every [`MAX_UNFLUSHED`];
/// once a batch finds nothing it flushes and blocks until the next record. So a record is
/// in the file within a few milliseconds of the task's end and survives a `kill -9` of
/// the process.
fn writer(
    mut output: Output,
    observer: Option<&(dyn Fn(&TaskInfo) + Send + Sync)>,
    rx: &Receiver<RecordMessage>,
) {
    let mut line = Vec::with_capacity(1024);
    let mut acks = Vec::new();
    let mut stop = false;
    while !stop && let Ok(first) = rx.recv() {
        let mut message = Some(first);
        let mut unflushed_since = Instant::now();
        loop {
            let mut taken = 0usize;
            while let Some(m) = message.take().or_else(|| rx.try_recv().ok()) {
                taken += 1;
                match m {
                    RecordMessage::Task(node) => {
                        write_record(&mut output, observer, &mut line, &node);
                        node.shared.task_finished();
                    }
                    RecordMessage::Flush(ack) => acks.push(ack),
                    RecordMessage::Stop => stop = true,
                }
            }
            if stop || taken == 0 || !acks.is_empty() {
                break;
            }
            if unflushed_since.elapsed() >= MAX_UNFLUSHED {
                flush(&mut output);
                unflushed_since = Instant::now();
            }
            std::thread::sleep(BATCH_INTERVAL);
        }
        flush(&mut output);
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Hands `node`'s record to the observer and the output.
fn write_record(
    output: &mut Output,
    observer: Option<&(dyn Fn(&TaskInfo) + Send + Sync)>,
    line: &mut Vec<u8>,
    node: &Node,
) {
    let info = {
        let state = node.lock();
        node.info(&state)
    };
    if let Some(observe) = observer {
        observe(&info);
    }
    match output {
        Output::None => {}
        Output::File(file) => {
            line.clear();
            if serde_json::to_writer(&mut *line, &info).is_ok() {
                line.push(b'\n');
                if let Err(e) = file.write_all(line) {
                    tracing::error!("cannot write a task record: {e}");
                }
            }
        }
        Output::Memory(collector) => collector
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(info),
    }
}

/// Hands the file's buffered records to the OS.
fn flush(output: &mut Output) {
    if let Output::File(file) = output
        && let Err(e) = file.flush()
    {
        tracing::error!("cannot write task records: {e}");
    }
}
