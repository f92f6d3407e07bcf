//! The job messages on the Redis streams: the executor's sender loop, which pipelines
//! jobs onto the job stream; a worker checking a job before it runs; and a worker writing
//! many answers in one round trip, each acknowledging its job only once it is written.

use super::auth::{Auth, Purpose};
use crossbeam_channel::Receiver;

use super::conn::Conn;
use super::streams::{self, FIELD, GROUP, Keys};
use super::wire::{self, Job, Reply};

/// Sends jobs in pipelined batches until the channel closes.
pub(crate) fn send_loop(mut conn: Conn, jobs_key: &str, rx: &Receiver<Vec<Vec<u8>>>) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.extend(first);
        while batch.len() < BATCH
            && let Ok(more) = rx.try_recv()
        {
            batch.extend(more);
        }
        let sent = conn.run(&|| false, |c| {
            let mut pipe = redis::pipe();
            for job in &batch {
                pipe.cmd("XADD")
                    .arg(jobs_key)
                    .arg("*")
                    .arg(FIELD)
                    .arg(job)
                    .ignore();
            }
            pipe.query::<()>(c)
        });
        if let Err(e) = sent {
            tracing::error!("executor: cannot send {} jobs: {e}", batch.len());
        }
        batch.clear();
    }
}

/// Writes answers to result streams and acknowledges each job only if its answer was
/// written (inside MULTI a failed XADD would not stop the XACK, and the result would be
/// lost). `KEYS` = the job stream, then one result stream per answer; `ARGV` = field,
/// group, then per answer its entry id and message. Returns per answer `1`, or the error
/// of its `XADD` or `XACK`.
const ANSWERS_SCRIPT: &str = "local out = {} \
    for i = 2, #KEYS do \
      local entry, message = ARGV[2 * i - 1], ARGV[2 * i] \
      local written = redis.pcall('XADD', KEYS[i], '*', ARGV[1], message) \
      if type(written) == 'table' and written['err'] then \
        out[#out + 1] = written['err'] \
      else \
        local acked = redis.pcall('XACK', KEYS[1], ARGV[2], entry) \
        if type(acked) == 'table' and acked['err'] then \
          out[#out + 1] = acked['err'] \
        else \
          out[#out + 1] = 1 \
        end \
      end \
    end \
    return out";

/// One answer to write: the job's stream entry, the job, its reply, and whether it is
/// the job's last (a `PoisonTask` answer: if it cannot be written, the job is dropped).
pub(crate) struct Answer<'a> {
    pub(crate) entry: &'a str,
    pub(crate) job: &'a Job,
    pub(crate) reply: Reply,
    pub(crate) last: bool,
}

/// Writes `answers` in one round trip, each sealed for its job's result stream; whether
/// each was written (and so its job acknowledged). A job whose answer was not written
/// stays pending and is delivered again after its lease.
pub(crate) fn write_answers(
    auth: &Auth,
    keys: &Keys,
    conn: &mut Conn,
    answers: &[Answer<'_>],
) -> Vec<bool> {
    if answers.is_empty() {
        return Vec::new();
    }
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(ANSWERS_SCRIPT)
        .arg(answers.len() + 1)
        .arg(keys.jobs());
    for answer in answers {
        cmd.arg(&answer.job.reply_to);
    }
    cmd.arg(FIELD).arg(GROUP);
    for answer in answers {
        let message = auth.seal(
            Purpose::Reply,
            &answer.job.reply_to,
            &answer.job.id,
            &wire::encode(&answer.reply),
        );
        cmd.arg(answer.entry).arg(message);
    }
    match conn.run(&|| false, |c| cmd.query::<Vec<redis::Value>>(c)) {
        Ok(statuses) => answers
            .iter()
            .zip(statuses.iter().chain(std::iter::repeat(&redis::Value::Nil)))
            .map(|(answer, status)| match status {
                redis::Value::Int(1) => true,
                other => {
                    tracing::warn!(
                        "worker: cannot write the result of {}: {}",
                        answer.job.id,
                        streams::text(other)
                    );
                    false
                }
            })
            .collect(),
        Err(e) => {
            tracing::warn!("worker: cannot write {} results: {e}", answers.len());
            vec![false; answers.len()]
        }
    }
}

/// Authenticates, decodes and validates a job message read from the job stream of
/// `keys`: its tag first, then its body, then its id, reply stream and module hash.
pub(crate) fn check_job(auth: &Auth, keys: &Keys, message: &[u8]) -> Result<Job, String> {
    let (id, body) = auth
        .open(Purpose::Job, &keys.jobs(), message)
        .map_err(|e| e.to_string())?;
    let job: Job = wire::decode(body)?;
    if !streams::is_valid_id(&job.id) || job.id.as_bytes() != id {
        return Err("the job id is not a wasmtaps id".into());
    }
    let reply_to = job
        .reply_to
        .strip_prefix(&keys.results(""))
        .ok_or("the reply stream is not a result stream")?;
    if !streams::is_valid_id(reply_to) {
        return Err("the reply stream is not a result stream".into());
    }
    if !streams::is_valid_hash(&job.module_hash) {
        return Err("the module hash is not a SHA-256".into());
    }
    // A worker's files are its own: a job never names a directory to mount, nor carries
    // module bytes (those are fetched by hash).
    if !job.dirs.is_empty() || job.wasm.is_some() {
        return Err("the job names directories or carries module bytes".into());
    }
    Ok(job)
}
