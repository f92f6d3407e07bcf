//! No-op tasks through Redis with two local worker processes, beside Redis's own ceiling
//! for the same message pattern, measured in the same run.
//!
//! Run: `scripts/install-redis && cargo bench -p wasmtaps-cli --bench redis`
//! (`WASMTAPS_BENCH_TASKS` sets the task count, default 20000).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtaps::{Engine, RecordCollector, RecordSink, RedisExecutor, Runtime};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let tasks: usize = std::env::var("WASMTAPS_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        // `cargo bench -- --test` (CI's smoke run) sends a few hundred tasks.
        .unwrap_or(if std::env::args().any(|a| a == "--test") {
            500
        } else {
            20_000
        });
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let _redis = Killed(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("redis-server: {e}: run scripts/install-redis"))?,
    );
    let client = redis::Client::open(url.as_str())?;
    let start = Instant::now();
    while client.get_connection().is_err() {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let ceiling = ceiling(&client, tasks)?;
    let xadd = redis_benchmark_xadd(port);

    // Engine and workers share a secret, as a deployment would (its cost is measured).
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let workers: Vec<Killed> = (0..2)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_wasmtaps"))
                .args(["worker", "--redis", &url, "--workers", "1"])
                .args(["--name", &format!("bench-{i}")])
                .env(wasmtaps::remote::SECRET_ENV, &secret)
                .stderr(Stdio::null())
                .spawn()
                .map(Killed)
        })
        .collect::<Result<_, _>>()?;
    let runtime = Runtime::new()?;
    let module = runtime.load_bytes(
        "wasmtaps_example_tasks",
        wasmtaps_example_artifacts::TASKS_WASM_BYTES,
    )?;
    let noop = module.task("noop")?;
    let executor = Arc::new(
        RedisExecutor::builder(&url)
            .secret(wasmtaps::remote::Secret::new(secret.as_str())?)
            .build()?,
    );
    let records = RecordCollector::new();
    let engine = Engine::builder(runtime)
        .workers(128)
        .executor(executor.clone())
        .record_sink(RecordSink::Memory(records.clone()))
        .build()?;
    // Warm up: both workers fetch and compile the module.
    for f in (0..64)
        .map(|_| engine.submit(&noop, vec![], vec![]))
        .collect::<Vec<_>>()
    {
        f.result(None)?;
    }
    // Round trip: one task at a time.
    let mut round_trips: Vec<f64> = (0..500)
        .map(|_| {
            let t = Instant::now();
            engine
                .submit(&noop, vec![], vec![])
                .result(None)
                .map(|_| t.elapsed().as_secs_f64())
        })
        .collect::<Result<_, _>>()?;
    round_trips.sort_by(f64::total_cmp);
    // Throughput: many in flight.
    let t = Instant::now();
    let futures: Vec<_> = (0..tasks)
        .map(|_| engine.submit(&noop, vec![], vec![]))
        .collect();
    for f in &futures {
        f.result(None)?;
    }
    let elapsed = t.elapsed().as_secs_f64();
    engine.shutdown(true, false);
    drop(workers);
    let rate = tasks as f64 / elapsed;
    println!(
        "redis ceiling, best pattern (2 consumers: XREADGROUP COUNT 64, one MULTI of XADDs + XACK per batch; 1 producer, 1 result reader): {ceiling:.0} msgs/s"
    );
    if let Some(xadd) = xadd {
        println!("redis-benchmark XADD (pipeline 16): {xadd:.0} req/s");
    }
    println!(
        "wasmtaps noop through Redis, 2 worker processes x 1 thread: {rate:.0} tasks/s ({:.0}% of the ceiling)",
        100.0 * rate / ceiling
    );
    println!(
        "round trip, one task at a time: median {:.0} µs, p90 {:.0} µs",
        round_trips[round_trips.len() / 2] * 1e6,
        round_trips[round_trips.len() * 9 / 10] * 1e6
    );
    Ok(())
}

/// Redis's own ceiling for the job pattern, in its best form on this machine and without
/// wasm: a producer pipelines XADDs to a stream, two consumers each read up to 64 entries
/// at a time through a group and answer them all with XADDs and one XACK in one MULTI,
/// and a reader drains the answers.
fn ceiling(client: &redis::Client, count: usize) -> anyhow::Result<f64> {
    let mut conn = client.get_connection()?;
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "ceiling:jobs", "g", "0", "MKSTREAM"][..])
        .query(&mut conn)?;
    let payload = vec![0x5au8; 200];
    let t = Instant::now();
    let producer = {
        let mut conn = client.get_connection()?;
        let payload = payload.clone();
        std::thread::spawn(move || -> redis::RedisResult<()> {
            for chunk in (0..count).collect::<Vec<_>>().chunks(256) {
                let mut pipe = redis::pipe();
                for _ in chunk {
                    pipe.cmd("XADD")
                        .arg("ceiling:jobs")
                        .arg("*")
                        .arg("m")
                        .arg(&payload)
                        .ignore();
                }
                pipe.query::<()>(&mut conn)?;
            }
            Ok(())
        })
    };
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumers: Vec<_> = (0..2)
        .map(|i| {
            let mut conn = client.get_connection()?;
            let done = done.clone();
            Ok(std::thread::spawn(move || -> redis::RedisResult<()> {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
                        .arg(
                            &[
                                "GROUP",
                                "g",
                                &format!("c{i}"),
                                "COUNT",
                                "64",
                                "BLOCK",
                                "100",
                            ][..],
                        )
                        .arg(&["STREAMS", "ceiling:jobs", ">"][..])
                        .query(&mut conn)?;
                    for key in reply.keys {
                        if key.ids.is_empty() {
                            continue;
                        }
                        let mut pipe = redis::pipe();
                        pipe.atomic();
                        for _ in &key.ids {
                            pipe.cmd("XADD")
                                .arg("ceiling:results")
                                .arg("*")
                                .arg("m")
                                .arg(&[0u8; 100][..])
                                .ignore();
                        }
                        let ids: Vec<&str> = key.ids.iter().map(|e| e.id.as_str()).collect();
                        pipe.cmd("XACK")
                            .arg("ceiling:jobs")
                            .arg("g")
                            .arg(&ids)
                            .ignore();
                        pipe.query::<()>(&mut conn)?;
                    }
                }
                Ok(())
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut last = "0-0".to_owned();
    let mut received = 0;
    while received < count {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREAD")
            .arg(
                &[
                    "COUNT",
                    "1024",
                    "BLOCK",
                    "1000",
                    "STREAMS",
                    "ceiling:results",
                    &last,
                ][..],
            )
            .query(&mut conn)?;
        for key in reply.keys {
            received += key.ids.len();
            if let Some(entry) = key.ids.last() {
                last = entry.id.clone();
            }
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().expect("producer")?;
    for c in consumers {
        c.join().expect("consumer")?;
    }
    Ok(count as f64 / elapsed)
}

/// `redis-benchmark` XADD requests per second, if it is installed.
fn redis_benchmark_xadd(port: u16) -> Option<f64> {
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-n", "100000", "-P", "16", "-q"])
        .args(["XADD", "bench:xadd", "*", "f", "v"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "XADD bench:xadd * f v: 512345.67 requests per second, p50=..."
    let tail = text
        .rsplit(": ")
        .find(|s| s.contains("requests per second"))?;
    tail.split_whitespace().next()?.parse().ok()
}
