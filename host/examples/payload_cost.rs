//! What one large `reverse_bytes` call costs in CPU time and page faults, measured on
//! the calling thread (`getrusage(RUSAGE_THREAD)`), so that a loaded machine's waiting
//! is left out: `Runtime::invoke` with the argument shared (`Value::from_bin`) or
//! encoded (a copy, `Args::arg`), against raw wasmtime doing the ABI by hand on the same
//! engine (a request buffer copied in, the `bin` copied out).
//!
//! Run: `cargo run --release -p wasmtaps --example payload_cost -- [BYTES] [CALLS] [ROW]`
//! (defaults 1048576, 200; ROW is `shared`, `copied` or `raw`, default all three, each
//! in its own process so that one row's heap does not shape another's).

use std::process::Command;

use wasmtaps::{Args, InvokeOptions, Value};

#[path = "../benches/support/payload_runtime.rs"]
mod payload_runtime;
#[path = "../benches/support/raw_wasmtime.rs"]
mod raw_wasmtime;

/// (CPU seconds, minor page faults) of this thread so far.
fn thread_usage() -> (f64, i64) {
    // SAFETY: `getrusage` fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_minflt,
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let len: usize = args.first().map_or(Ok(1 << 20), |v| v.parse())?;
    let calls: usize = args.get(1).map_or(Ok(200), |v| v.parse())?;
    let Some(row) = args.get(2) else {
        for row in ["shared", "copied", "raw"] {
            let me = std::env::current_exe()?;
            let status = Command::new(me)
                .args([len.to_string(), calls.to_string(), row.to_owned()])
                .status()?;
            anyhow::ensure!(status.success(), "{row} failed");
        }
        return Ok(());
    };

    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let shared = bytes::Bytes::from(data.clone());
    let runtime = payload_runtime::build()?;
    let module = runtime.load_file(wasmtaps_example_artifacts::TASKS_WASM)?;
    let reverse = module.task("reverse_bytes")?;
    let options = InvokeOptions::default();
    let invoke = |args: Args| -> anyhow::Result<usize> {
        let value = runtime.invoke(&reverse, &args, &options).result?;
        Ok(value.as_bin().map_or(0, <[u8]>::len))
    };

    let pre = raw_wasmtime::example_module(runtime.engine())?;
    let raw = || -> anyhow::Result<usize> {
        let mut request = Vec::with_capacity(data.len() + 8);
        request.extend_from_slice(&[0x92, 0x91, 0xc6]);
        request.extend_from_slice(&u32::try_from(data.len())?.to_be_bytes());
        request.extend_from_slice(&data);
        request.push(0x80);
        let (mut store, instance) = raw_wasmtime::fresh_instance(&pre)?;
        let alloc = instance.get_typed_func::<i32, i32>(&mut store, "wasmtaps_alloc")?;
        let task = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, "wasmtaps_task_reverse_bytes")?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow::anyhow!("no memory"))?;
        let request_len = i32::try_from(request.len())?;
        let ptr = alloc.call(&mut store, request_len)?;
        memory.write(&mut store, ptr as u32 as usize, &request)?;
        drop(request);
        let packed = task.call(&mut store, (ptr, request_len))? as u64;
        let (at, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        // `{"ok": bin 32}`: the bytes start after 9 bytes of envelope.
        let out = memory.data(&store)[at + 9..at + len].to_vec();
        Ok(out.len())
    };
    let call = || -> anyhow::Result<usize> {
        match row.as_str() {
            "shared" => invoke(Args::from_values([Value::from_bin(shared.clone())?])),
            "copied" => invoke(Args::new().arg(serde_bytes::Bytes::new(&data))?),
            "raw" => raw(),
            other => anyhow::bail!("no row {other:?}: shared, copied or raw"),
        }
    };
    for _ in 0..5 {
        anyhow::ensure!(call()? == len, "wrong result length");
    }
    let (cpu, faults) = thread_usage();
    for _ in 0..calls {
        anyhow::ensure!(call()? == len, "wrong result length");
    }
    let (cpu_after, faults_after) = thread_usage();
    println!(
        "{row:>6}: {len} bytes, {:9.1} µs CPU and {:8.1} page faults per call ({calls} calls)",
        (cpu_after - cpu) / calls as f64 * 1e6,
        (faults_after - faults) as f64 / calls as f64
    );
    Ok(())
}
