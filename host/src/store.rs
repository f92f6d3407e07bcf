//! Per-invocation store state: WASI context, resource limiter, captured output, panic message.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::failure::ErrorKind;

/// What lives in the `wasmtime::Store` of one invocation.
pub(crate) struct StoreState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: TaskLimiter,
    pub(crate) panic_message: Option<String>,
    /// When the invocation's deadline passes, if it has one.
    pub(crate) deadline: Option<std::time::Instant>,
}

/// A memory or table limit the guest tried to exceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LimitExceeded {
    resource: &'static str,
    requested: u64,
    limit: u64,
}

impl LimitExceeded {
    pub(crate) fn kind(&self) -> ErrorKind {
        if self.resource == "memory" {
            ErrorKind::MemoryLimitExceeded
        } else {
            ErrorKind::TableLimitExceeded
        }
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.resource == "memory" {
            " bytes"
        } else {
            " elements"
        };
        write!(
            f,
            "{} limit exceeded: the guest asked for {}{unit}, the limit is {}{unit}",
            self.resource, self.requested, self.limit
        )
    }
}

impl std::error::Error for LimitExceeded {}

/// Enforces the memory and table limits, remembering the first limit that was hit.
pub(crate) struct TaskLimiter {
    pub(crate) memory_bytes: u64,
    pub(crate) table_elements: u64,
    pub(crate) hit: Option<LimitExceeded>,
}

impl TaskLimiter {
    /// Allows `desired` of `resource` if within `limit`; otherwise remembers the hit and
    /// traps.
    pub(crate) fn check(
        &mut self,
        resource: &'static str,
        desired: usize,
        limit: u64,
    ) -> wasmtime::Result<bool> {
        let requested = desired as u64;
        if requested <= limit {
            return Ok(true);
        }
        let exceeded = LimitExceeded {
            resource,
            requested,
            limit,
        };
        self.hit.get_or_insert(exceeded.clone());
        // Trap rather than let `memory.grow` return -1: a guest that ignores the failure
        // would otherwise spin until its deadline, and the record should say why it died.
        Err(wasmtime::Error::new(exceeded))
    }
}

impl ResourceLimiter for TaskLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.check("memory", desired, self.memory_bytes)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.check("table", desired, self.table_elements)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Captured stdout or stderr: keeps the first `capacity` bytes, drops and counts the rest.
///
/// Writes never fail, so a guest flooding its output is stopped by its deadline or fuel,
/// not by an I/O error it might mishandle.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    inner: Arc<Mutex<OutputBuffer>>,
}

#[derive(Default)]
struct OutputBuffer {
    bytes: Vec<u8>,
    capacity: usize,
    dropped: u64,
}

impl CapturedOutput {
    pub(crate) fn new(capacity: u64) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new(OutputBuffer {
                bytes: Vec::new(),
                capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
                dropped: 0,
            })),
        }
    }

    fn append(&self, data: &[u8]) {
        let mut buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = buf.capacity.saturating_sub(buf.bytes.len());
        let keep = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..keep]);
        buf.dropped += (data.len() - keep) as u64;
    }

    /// A copy of the bytes kept so far.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        let buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        buf.bytes.clone()
    }

    /// Moves what `other` captured to the end of this output, counting what does not
    /// fit as dropped, as if it had been written here.
    pub(crate) fn absorb(&self, other: &CapturedOutput) {
        let (bytes, dropped) = other.take();
        self.append(&bytes);
        let mut buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        buf.dropped = buf.dropped.saturating_add(dropped);
    }

    /// The kept bytes and how many were dropped.
    pub(crate) fn take(&self) -> (Vec<u8>, u64) {
        let mut buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut buf.bytes), buf.dropped)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
