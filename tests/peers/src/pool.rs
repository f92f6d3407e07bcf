//! The one dispatch every pooled row goes through: jobs go through one shared
//! multi-consumer queue (a `crossbeam-channel`, the queue type of the wasmtaps engine's
//! `LocalExecutor`) to [`WORKERS`](crate::WORKERS) threads, each with its own state (a
//! wasm instance, a plugin, a wasmtaps runtime handle), and each result comes back on its
//! own one-slot channel.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::{Kind, Payload};

/// One worker's way of running a task on input bytes.
pub type Call = Box<dyn FnMut(Kind, &Arc<Payload>) -> Payload>;

type Job = (Kind, Arc<Payload>, Sender<Payload>);

/// Worker threads taking jobs from one queue.
pub struct Pool {
    queue: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `workers` threads; each builds its state with `make` on its own thread.
    pub fn new(workers: usize, make: impl Fn() -> Call + Send + Sync + 'static) -> Pool {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        let make = Arc::new(make);
        let threads = (0..workers)
            .map(|_| {
                let (jobs, make) = (jobs.clone(), make.clone());
                std::thread::spawn(move || {
                    let mut call = make();
                    while let Ok((kind, input, reply)) = jobs.recv() {
                        let _ = reply.send(call(kind, &input));
                    }
                })
            })
            .collect();
        Pool {
            queue: Some(queue),
            threads,
        }
    }

    /// Queues a task; its result arrives on the returned channel.
    pub fn submit(&self, kind: Kind, input: Arc<Payload>) -> Receiver<Payload> {
        let (reply, result) = crossbeam_channel::bounded(1);
        self.queue
            .as_ref()
            .expect("pool is running")
            .send((kind, input, reply))
            .expect("workers are running");
        result
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
