//! A minimal thread pool for the Rust peers that have no executor of their own: jobs
//! go through one shared queue to [`WORKERS`](crate::WORKERS) threads, each with its
//! own state (a wasm instance, a plugin), and each result comes back on its own channel.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::Kind;

/// One worker's way of running a task on input bytes.
pub type Call = Box<dyn FnMut(Kind, &[u8]) -> Vec<u8>>;

type Job = (Kind, Arc<Vec<u8>>, Sender<Vec<u8>>);

/// Worker threads taking jobs from one queue.
pub struct Pool {
    queue: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `workers` threads; each builds its state with `make` on its own thread.
    pub fn new(workers: usize, make: impl Fn() -> Call + Send + Sync + 'static) -> Pool {
        let (queue, jobs) = channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let make = Arc::new(make);
        let threads = (0..workers)
            .map(|_| {
                let (jobs, make) = (jobs.clone(), make.clone());
                std::thread::spawn(move || {
                    let mut call = make();
                    loop {
                        let job = jobs.lock().expect("queue lock").recv();
                        let Ok((kind, input, reply)) = job else {
                            return;
                        };
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
    pub fn submit(&self, kind: Kind, input: Arc<Vec<u8>>) -> Receiver<Vec<u8>> {
        let (reply, result) = channel();
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
