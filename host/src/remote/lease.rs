//! Leases on jobs: a worker renews the lease on the jobs it is running, so that only a
//! worker that died or hung loses its job to another worker's `XAUTOCLAIM`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::streams::{GROUP, Keys};

/// The jobs this worker process is running, by stream entry id, with the consumer
/// (worker thread) holding each and when renewing stops (`None`: never).
#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<String, (String, Option<Instant>)>>,
}

impl Leases {
    pub(crate) fn hold(&self, entry: &str, consumer: &str, until: Option<Instant>) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entry.to_owned(), (consumer.to_owned(), until));
    }

    pub(crate) fn release(&self, entry: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(entry);
    }

    /// The leases to renew now: those whose renewal has not run out.
    fn snapshot(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, (_, until))| until.is_none_or(|u| now < u))
            .map(|(e, (c, _))| (e.clone(), c.clone()))
            .collect()
    }
}

/// Renews every held lease three times per lease period, until `stop`: `XCLAIM … JUSTID`
/// of entries to their own consumer resets their idle time without counting a delivery;
/// one `XCLAIM` per consumer, all in one round trip.
pub(crate) fn renew_loop(
    mut conn: Conn,
    keys: Keys,
    leases: Arc<Leases>,
    lease: Duration,
    stop: Arc<AtomicBool>,
) {
    let period = lease / 3;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(period);
        let mut by_consumer: HashMap<String, Vec<String>> = HashMap::new();
        for (entry, consumer) in leases.snapshot() {
            by_consumer.entry(consumer).or_default().push(entry);
        }
        if by_consumer.is_empty() {
            continue;
        }
        let result = conn.run(&|| stop.load(Ordering::Relaxed), |c| {
            let mut pipe = redis::pipe();
            for (consumer, entries) in &by_consumer {
                pipe.cmd("XCLAIM")
                    .arg(keys.jobs())
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(0)
                    .arg(entries)
                    .arg("JUSTID")
                    .ignore();
            }
            pipe.query::<()>(c)
        });
        if let Err(e) = result {
            let held: usize = by_consumer.values().map(Vec::len).sum();
            tracing::warn!("worker: cannot renew the leases on {held} jobs: {e}");
        }
    }
}
