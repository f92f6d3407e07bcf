//! Dependency tracking: registering a child with its parents, and completing a task
//! (waking waiters, recording it, and handing its value to its children).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::failure::{ErrorKind, TaskError};
use crate::info::{ExecutionInfo, unix_now};
use crate::module::Task;
use crate::value::Value;

use super::Shared;
use super::arg::{Arg, encode_list, encode_static};
use super::future::{Job, Node, PendingList, Slot, Stage, State, TaskFuture};
use super::ready::ResolvedOptions;

/// Creates the node for a submission, links it to its parents, and queues it if it is
/// ready. Never blocks on running tasks.
pub(crate) fn submit(
    shared: &Arc<Shared>,
    task: &Task,
    positional: Vec<Arg>,
    keyword: Vec<(String, Arg)>,
    options: Arc<ResolvedOptions>,
) -> TaskFuture {
    let mut parents: Vec<(TaskFuture, Slot)> = Vec::new();
    let mut lists: Vec<PendingList> = Vec::new();
    let mut nested_future = false;
    let mut place = |arg: Arg, target: Slot, parents: &mut Vec<(TaskFuture, Slot)>| match arg {
        Arg::Value(v) => Some(v),
        Arg::Future(f) => {
            parents.push((f, target));
            None
        }
        Arg::List(items) => {
            if let Some(v) = encode_static(&items) {
                return Some(v);
            }
            let index = lists.len();
            let items = items
                .into_iter()
                .enumerate()
                .map(|(j, item)| match item {
                    Arg::Value(v) => Some(v),
                    Arg::Future(f) => {
                        parents.push((f, Slot::ListItem(index, j)));
                        None
                    }
                    Arg::List(inner) => encode_static(&inner).or_else(|| {
                        nested_future = true;
                        Some(Value::nil())
                    }),
                })
                .collect();
            lists.push(PendingList { target, items });
            None
        }
    };
    let positional: Vec<Option<Value>> = positional
        .into_iter()
        .enumerate()
        .map(|(i, arg)| place(arg, Slot::Positional(i), &mut parents))
        .collect();
    let keyword: Vec<(String, Option<Value>)> = keyword
        .into_iter()
        .enumerate()
        .map(|(i, (name, arg))| (name, place(arg, Slot::Keyword(i), &mut parents)))
        .collect();
    let parent_ids = parents.iter().map(|(f, _)| f.node.id.clone()).collect();
    let job = Job {
        task: task.clone(),
        positional,
        keyword,
        lists,
        options,
        missing: 1,
    };
    let node = new_node(shared, task.name(), parent_ids, Some(job));
    if nested_future {
        let error = TaskError::new(
            ErrorKind::ArgumentError,
            "a future nested in a list inside a list argument is not supported",
        );
        return fail_new(node, error);
    }
    if shared.closed.load(Ordering::SeqCst) {
        let error = TaskError::new(
            ErrorKind::Cancelled,
            "the engine was shut down before the task was submitted",
        );
        return fail_new(node, error);
    }
    for (parent, slot) in parents {
        let mut parent_state = parent.node.lock();
        if parent_state.stage != Stage::Done {
            parent_state.children.push((node.clone(), slot));
            if let Some(job) = node.lock().job.as_mut() {
                job.missing += 1;
            }
            continue;
        }
        match parent_state.outcome.clone() {
            Some(Ok(value)) => {
                drop(parent_state);
                set_argument(&node, slot, value);
            }
            Some(Err(error)) => {
                drop(parent_state);
                if node.claim() {
                    finish(
                        node.clone(),
                        Err(dependency_error(&parent.node.id, &error)),
                        None,
                    );
                }
                return TaskFuture { node };
            }
            None => unreachable!("a finished task has an outcome"),
        }
    }
    // Release the registration guard.
    if release(&node) {
        shared.start(vec![node.clone()]);
    }
    TaskFuture { node }
}

/// A task that fails at submission, without running (it is still recorded).
pub(crate) fn submit_failed(shared: &Arc<Shared>, task: &Task, error: TaskError) -> TaskFuture {
    submit_failed_named(shared, task.name(), error)
}

/// A task named `name` that fails with `error` as it is submitted.
pub(crate) fn submit_failed_named(
    shared: &Arc<Shared>,
    name: &str,
    error: TaskError,
) -> TaskFuture {
    fail_new(new_node(shared, name, Vec::new(), None), error)
}

fn fail_new(node: Arc<Node>, error: TaskError) -> TaskFuture {
    node.claim();
    finish(node.clone(), Err(error), None);
    TaskFuture { node }
}

/// A new, counted, waiting node.
fn new_node(
    shared: &Arc<Shared>,
    name: &str,
    parent_ids: Vec<String>,
    job: Option<Job>,
) -> Arc<Node> {
    shared.admit();
    Arc::new(Node {
        id: new_task_id(),
        name: name.to_owned(),
        parent_ids,
        submit_time: unix_now(),
        shared: shared.clone(),
        state: Mutex::new(State {
            stage: Stage::Waiting,
            job,
            outcome: None,
            execution: None,
            received_time: None,
            children: Vec::new(),
            wakers: Vec::new(),
            blocked: 0,
        }),
        done: Condvar::new(),
        finished: AtomicBool::new(false),
    })
}

/// Decrements the missing count; `true` if the task just became ready.
fn release(node: &Node) -> bool {
    let mut state = node.lock();
    if state.stage != Stage::Waiting {
        return false;
    }
    let job = state.job.as_mut().expect("a waiting task has its job");
    job.missing -= 1;
    if job.missing == 0 {
        state.stage = Stage::Queued;
        true
    } else {
        false
    }
}

/// Puts a value into its argument slot, if the task has not started or ended.
fn set_argument(node: &Node, slot: Slot, value: Value) {
    let mut state = node.lock();
    if let Some(job) = state.job.as_mut() {
        put(job, slot, value);
    }
}

/// Delivers a registered parent's value; `true` if the task just became ready.
fn fill(node: &Node, slot: Slot, value: Value) -> bool {
    set_argument(node, slot, value);
    release(node)
}

fn put(job: &mut Job, slot: Slot, value: Value) {
    match slot {
        Slot::Positional(i) => job.positional[i] = Some(value),
        Slot::Keyword(i) => job.keyword[i].1 = Some(value),
        Slot::ListItem(list, item) => {
            let pending = &mut job.lists[list];
            pending.items[item] = Some(value);
            if pending.items.iter().all(Option::is_some) {
                let encoded = encode_list(pending.items.iter().flatten());
                let target = pending.target;
                put(job, target, encoded);
            }
        }
    }
}

fn dependency_error(parent_id: &str, error: &TaskError) -> TaskError {
    TaskError::dependency(parent_id, error)
}

/// Completes a task that is `Running` (claimed by an executor or by a cancel): stores
/// the outcome, wakes waiters, sends the record, then resolves its children. Children
/// that become ready go to the executor in one batch; children of a failed task are
/// completed with a dependency error, iteratively, so long chains do not recurse.
pub(crate) fn finish(
    node: Arc<Node>,
    outcome: Result<Value, TaskError>,
    execution: Option<ExecutionInfo>,
) {
    let shared = node.shared.clone();
    let mut ready = Vec::new();
    let mut work = vec![(node, outcome, execution)];
    while let Some((node, outcome, execution)) = work.pop() {
        let (children, wakers) = {
            let mut state = node.lock();
            if state.stage == Stage::Done {
                continue;
            }
            state.stage = Stage::Done;
            node.finished.store(true, Ordering::Release);
            state.job = None;
            state.received_time = Some(unix_now());
            state.execution = execution;
            state.outcome = Some(outcome.clone());
            if state.blocked > 0 {
                node.done.notify_all();
            }
            shared.completed.fetch_add(1, Ordering::Relaxed);
            if outcome.is_err() {
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
            (
                std::mem::take(&mut state.children),
                std::mem::take(&mut state.wakers),
            )
        };
        for waker in wakers {
            waker.wake();
        }
        match outcome {
            Ok(value) => {
                for (child, slot) in children {
                    if !fill(&child, slot, value.clone()) {
                        continue;
                    }
                    if shared.cancelling.load(Ordering::Relaxed) {
                        if child.claim() {
                            work.push((child, Err(shutdown_cancelled()), None));
                        }
                    } else {
                        ready.push(child);
                    }
                }
            }
            Err(error) => {
                for (child, _) in children {
                    if child.claim() {
                        let error = dependency_error(&node.id, &error);
                        work.push((child, Err(error), None));
                    }
                }
            }
        }
        // Counted as outstanding until its record is written, so that a slow sink
        // holds back submitters instead of queueing records without bound.
        shared.record(node);
    }
    if !ready.is_empty() {
        shared.start(ready);
    }
}

pub(crate) fn shutdown_cancelled() -> TaskError {
    TaskError::new(
        ErrorKind::Cancelled,
        "the engine was shut down with cancel_futures before the task started",
    )
}

/// A random (version 4) UUID from a per-thread generator seeded once from the OS, so an
/// id costs nanoseconds rather than a `getrandom` call.
fn new_task_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0 | 1);
    }
    fn next(state: &Cell<u64>) -> u64 {
        // splitmix64
        let s = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (hi, lo) = STATE.with(|s| (next(s), next(s)));
    let bytes = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}
