//! Helpers shared by the CLI tests: the binary under test, a task-module skeleton for
//! inline WAT fixtures, a private `redis-server`, and the records' clock.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};

/// The `wasmtaps` binary this package builds.
pub const WASMTAPS: &str = env!("CARGO_BIN_EXE_wasmtaps");

/// Runs `wasmtaps ARGS...` to its end in the current directory.
///
/// # Panics
/// If the binary cannot be started at all.
pub fn wasmtaps<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    wasmtaps_in(Path::new("."), args)
}

/// [`wasmtaps`] in `dir`, where relative paths in `args` resolve.
pub fn wasmtaps_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(WASMTAPS)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the wasmtaps binary runs")
}

/// Writes `text` to the file `name` in `dir`; its path, as an argument for `wasmtaps`.
pub fn write_file(dir: &Path, name: &str, text: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

/// A task module for inline WAT fixtures: `imports` first (where the text format wants
/// them), one page of exported memory, a bump `wasmtaps_alloc` handing out memory from
/// 8192 up (below that, data is the fixture's own), and `body` (its data and tasks).
pub fn wat_with_imports(imports: &str, body: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 8192))
  (func (export "wasmtaps_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  {body})"#
    )
}

/// [`wat_with_imports`] without imports.
pub fn wat(body: &str) -> String {
    wat_with_imports("", body)
}

/// The current time as float Unix seconds, as the records' times are.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A TCP port free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits for a condition that must become true; a generous bound only keeps a broken
/// build from hanging CI (no test asserts on timing).
pub fn eventually(what: &str, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check()? {
        ensure!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A private `redis-server` on a free port (with an append-only file when `persistent`),
/// killed on drop.
pub struct RedisServer {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
}

impl RedisServer {
    pub fn start(persistent: bool) -> Result<RedisServer> {
        let port = free_port()?;
        let dir = tempfile::tempdir()?;
        let child = spawn_redis(port, dir.path(), persistent)?;
        let server = RedisServer {
            child,
            port,
            dir,
            persistent,
        };
        server.wait_ready()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) -> Result<()> {
        let client = redis::Client::open(self.url())?;
        eventually("redis-server to answer", || {
            Ok(client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok())
        })
    }

    /// Stops Redis (it writes its append-only file when persistent) and starts it again
    /// on the same port.
    pub fn restart(&mut self) -> Result<()> {
        let mut conn = redis::Client::open(self.url())?.get_connection()?;
        let _ = redis::cmd("SHUTDOWN").query::<()>(&mut conn);
        self.child.wait()?;
        std::thread::sleep(Duration::from_millis(300));
        self.child = spawn_redis(self.port, self.dir.path(), self.persistent)?;
        self.wait_ready()
    }

    pub fn connection(&self) -> Result<redis::Connection> {
        Ok(redis::Client::open(self.url())?.get_connection()?)
    }
}

fn spawn_redis(port: u16, dir: &Path, persistent: bool) -> Result<Child> {
    let mut command = Command::new("redis-server");
    command
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null());
    if persistent {
        command.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        command.args(["--appendonly", "no"]);
    }
    match command.spawn() {
        Ok(child) => Ok(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("redis-server is not installed: run scripts/install-redis")
        }
        Err(e) => Err(e.into()),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hostile module: each task returns its fixed result bytes (a well-formed envelope).
pub fn forger_module(
    runtime: &wasmtaps::Runtime,
    tasks: &[(&str, Vec<u8>)],
) -> Result<wasmtaps::TaskModule> {
    let mut body = String::new();
    let mut offset = 1024u64;
    for (name, result) in tasks {
        let escaped: String = result.iter().map(|b| format!("\\{b:02x}")).collect();
        body.push_str(&format!(
            r#"(data (i32.const {offset}) "{escaped}")
               (func (export "wasmtaps_task_{name}") (param i32 i32) (result i64)
                 (i64.const {packed}))
            "#,
            packed = (offset << 32) | result.len() as u64
        ));
        offset += result.len() as u64 + 16;
    }
    Ok(runtime.load_wat("forger", &wat(&body))?)
}

/// The fields of TaPS's `TaskInfo`, `ExecutionInfo` and `ExceptionInfo`.
pub const TASK_FIELDS: [&str; 8] = [
    "task_id",
    "name",
    "parent_task_ids",
    "submit_time",
    "received_time",
    "success",
    "exception",
    "execution",
];
pub const EXECUTION_FIELDS: [&str; 9] = [
    "hostname",
    "execution_start_time",
    "execution_end_time",
    "task_start_time",
    "task_end_time",
    "input_transform_start_time",
    "input_transform_end_time",
    "result_transform_start_time",
    "result_transform_end_time",
];
pub const EXCEPTION_FIELDS: [&str; 3] = ["type", "message", "traceback"];
