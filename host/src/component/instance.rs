//! The store a component instance lives in, for a fresh instance and a spare alike.

use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtxBuilder;

use super::invoke::hostcall_fuel;
use super::store::{ComponentLimiter, ComponentState};
use crate::failure::TaskError;
use crate::invoke::ReadOnlyDir;
use crate::limits::Limits;
use crate::runtime::Runtime;
use crate::store::{CapturedOutput, TaskLimiter};

impl Runtime {
    /// A store for one component instance under `limits`: WASI preview 2 with no files
    /// but the read-only `dirs`, no environment, no arguments and no network, writing to `stdout` and `stderr`;
    /// the memory and table limits over the whole component; the host-call fuel for
    /// `max_result_bytes`; fuel (when metering) and the deadline.
    pub(crate) fn component_store(
        &self,
        limits: &Limits,
        dirs: &[ReadOnlyDir],
        (stdout, stderr): (&CapturedOutput, &CapturedOutput),
        deadline: Option<Instant>,
    ) -> Result<Store<ComponentState>, TaskError> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        // Read-only, and `open-at` opens only regular files and directories (mounts.rs).
        crate::mounts::preopen(&mut wasi, dirs)?;
        let wasi = wasi.build();
        let mut store = Store::new(
            &self.inner.component_engine,
            ComponentState {
                wasi,
                table: ResourceTable::new(),
                limiter: ComponentLimiter::new(TaskLimiter {
                    memory_bytes: limits.memory_bytes,
                    table_elements: limits.table_elements,
                    hit: None,
                }),
                deadline,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(hostcall_fuel(limits.max_result_bytes));
        self.arm_store(&mut store, limits, deadline)?;
        Ok(store)
    }
}
