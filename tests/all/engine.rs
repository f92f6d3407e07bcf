//! The task engine through its public API: dependencies, failures, cancellation,
//! timeouts, collective operations and the JSON-lines record.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use wasmtaps::engine::EngineBuilder;
use wasmtaps::{
    Arg, Engine, ErrorKind, FutureError, LimitOverrides, RecordCollector, RecordSink, ReturnWhen,
    Runtime, Task, TaskFuture, TaskInfo, TaskModule, Value, as_completed, wait,
};

use crate::support;

/// Tasks for the engine tests, in [`support::wat`]'s module. Each returns `{"ok": v}` for
/// a one-byte MessagePack `v` written at 20. The input `[[args], {}]` of small positive
/// integers has the arguments from byte 2 on, and their count in the low bits of byte 1.
const TASKS: &str = r#"
  (func $ok (param $v i32) (result i64)
    (i32.store (i32.const 16) (i32.const 0x6b6fa281))
    (i32.store8 (i32.const 20) (local.get $v))
    (i64.const 0x0000001000000005))
  ;; Returns nil, whatever the arguments.
  (func (export "wasmtaps_task_noop") (param i32 i32) (result i64)
    (call $ok (i32.const 0xc0)))
  ;; inc(n) = n + 1
  (func (export "wasmtaps_task_inc") (param $p i32) (param i32) (result i64)
    (call $ok (i32.add (i32.load8_u offset=2 (local.get $p)) (i32.const 1))))
  ;; sum(a, b, ...) of up to 15 arguments
  (func (export "wasmtaps_task_sum") (param $p i32) (param i32) (result i64)
    (local $n i32) (local $i i32) (local $s i32)
    (local.set $n (i32.and (i32.load8_u offset=1 (local.get $p)) (i32.const 15)))
    (block $done
      (loop $more
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s)
          (i32.load8_u offset=2 (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $more)))
    (call $ok (local.get $s)))
  (func (export "wasmtaps_task_fail") (param i32 i32) (result i64)
    unreachable)
  ;; Never returns; ends by its deadline.
  (func (export "wasmtaps_task_spin") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    unreachable)"#;

struct Fixture {
    module: TaskModule,
    records: RecordCollector,
    engine: Engine,
}

impl Fixture {
    fn task(&self, name: &str) -> Result<Task> {
        Ok(self.module.task(name)?)
    }

    /// Shuts the engine down and returns every record, checking each task has one.
    fn records(self) -> Result<Vec<TaskInfo>> {
        self.engine.shutdown(true, false);
        let records = self.records.records();
        let ids: HashSet<&str> = records.iter().map(|r| r.task_id.as_str()).collect();
        ensure!(ids.len() == records.len(), "a task was recorded twice");
        Ok(records)
    }
}

/// An engine over the test tasks, configured by `configure`, recording in memory.
fn run_test(configure: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Result<Fixture> {
    let runtime = Runtime::builder().fuel_metering(true).build()?;
    let module = runtime.load_wat("engine-tasks", &support::wat(TASKS))?;
    let records = RecordCollector::new();
    let engine = configure(
        Engine::builder(runtime)
            .workers(2)
            .record_sink(RecordSink::Memory(records.clone())),
    )
    .build()?;
    Ok(Fixture {
        module,
        records,
        engine,
    })
}

fn int(n: i64) -> Arg {
    Arg::encode(&n).expect("integers encode")
}

fn value_of(future: &TaskFuture) -> Result<i64> {
    Ok(future.result(None)?.decode::<i64>()?)
}

fn record<'a>(records: &'a [TaskInfo], future: &TaskFuture) -> Result<&'a TaskInfo> {
    records
        .iter()
        .find(|r| r.task_id == future.task_id())
        .with_context(|| format!("no record for task {}", future.task_id()))
}

#[test]
fn chain_passes_each_result_to_the_next() -> Result<()> {
    let f = run_test(|b| b)?;
    let inc = f.task("inc")?;
    let first = f.engine.submit(&inc, vec![int(0)], vec![]);
    let mut last = first.clone();
    for _ in 0..20 {
        last = f.engine.submit(&inc, vec![last.into()], vec![]);
    }
    ensure!(value_of(&last)? == 21);
    // A child of parents that have already ended starts at once.
    let late = f.engine.submit(&inc, vec![Arg::from(&first)], vec![]);
    ensure!(value_of(&late)? == 2);
    let sum = f.task("sum")?;
    let mixed = f.engine.submit(
        &sum,
        vec![Arg::from(&first), Arg::from(&late), int(3)],
        vec![],
    );
    ensure!(value_of(&mixed)? == 6);
    let records = f.records()?;
    ensure!(records.len() == 23);
    ensure!(records.iter().all(|r| r.success == Some(true)));
    Ok(())
}

#[test]
fn an_observer_sees_every_record_with_monotonic_phase_durations() -> Result<()> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let f = run_test(|b| b.on_record(move |info| sink.lock().unwrap().push(info.clone())))?;
    let inc = f.task("inc")?;
    let futures: Vec<_> = (0..50)
        .map(|i| f.engine.submit(&inc, vec![int(i)], vec![]))
        .collect();
    let fail = f.engine.submit(&f.task("fail")?, vec![], vec![]);
    let records = f.records()?;
    let seen = seen.lock().unwrap().clone();
    // The observer saw exactly what the sink got, in the same order.
    ensure!(seen == records, "the observer and the sink disagree");
    ensure!(seen.len() == 51);
    for future in futures.iter().chain([&fail]) {
        let r = record(&seen, future)?;
        let e = r
            .execution
            .as_ref()
            .context("an executed task has its execution")?;
        let d = e
            .durations
            .context("a task run in this process has precise durations")?;
        // The precise durations are the ones the f64 times round: within a few 238 ns steps.
        let close = |precise: Duration, start: f64, end: f64| {
            (precise.as_secs_f64() - (end - start)).abs() < 2e-6
        };
        ensure!(
            close(d.task, e.task_start_time, e.task_end_time),
            "{d:?} vs {e:?}"
        );
        ensure!(close(
            d.execution,
            e.execution_start_time,
            e.execution_end_time
        ));
        ensure!(d.input_transform + d.task + d.result_transform <= d.execution);
    }
    // A record read back from JSON has none: they are not part of the TaPS record.
    let line = serde_json::to_string(record(&seen, &futures[0])?)?;
    ensure!(!line.contains("durations"), "{line}");
    let back: TaskInfo = serde_json::from_str(&line)?;
    ensure!(back.execution.context("execution")?.durations.is_none());
    Ok(())
}

#[test]
fn a_task_whose_module_cannot_be_linked_is_recorded_as_a_link_error() -> Result<()> {
    let f = run_test(|b| b)?;
    let missing = r#"(module (import "nowhere" "f" (func)) (memory (export "memory") 1))"#;
    let error = match f.engine.runtime().load_wat("unlinkable", missing) {
        Err(error) => error,
        Ok(_) => bail!("a module with a missing import loaded"),
    };
    let failed = f.engine.submit_unloadable("unlinkable_task", &error);
    let e = failed.exception(None)?.context("it failed")?;
    ensure!(e.type_name() == "LinkError", "{e:?}");
    // A child of it never runs and carries its exception, as for any failed parent.
    let child = f
        .engine
        .submit(&f.task("inc")?, vec![failed.clone().into()], vec![]);
    ensure!(child.exception(None)?.is_some());
    let records = f.records()?;
    let r = record(&records, &failed)?;
    ensure!(r.name == "unlinkable_task" && r.success == Some(false) && r.execution.is_none());
    let exception = r.exception.as_ref().context("exception")?;
    ensure!(exception.kind == "LinkError" && exception.message.contains("nowhere::f"));
    ensure!(records.len() == 2);
    Ok(())
}

#[test]
fn diamond_joins_two_branches() -> Result<()> {
    let f = run_test(|b| b)?;
    let (inc, sum) = (f.task("inc")?, f.task("sum")?);
    let top = f.engine.submit(&inc, vec![int(1)], vec![]); // 2
    let left = f.engine.submit(&inc, vec![Arg::from(&top)], vec![]); // 3
    let right = f
        .engine
        .submit(&sum, vec![Arg::from(&top), int(10)], vec![]); // 12
    let bottom = f
        .engine
        .submit(&sum, vec![Arg::from(&left), Arg::from(&right)], vec![]);
    ensure!(value_of(&bottom)? == 15);
    let info = bottom.info().context("a finished task has its record")?;
    ensure!(info.parent_task_ids == [left.task_id(), right.task_id()]);
    Ok(())
}

#[test]
fn fan_out_then_fan_in_reduce() -> Result<()> {
    let f = run_test(|b| b)?;
    let (inc, sum) = (f.task("inc")?, f.task("sum")?);
    let root = f.engine.submit(&inc, vec![int(0)], vec![]); // 1
    let branches: Vec<TaskFuture> = (0..10)
        .map(|_| f.engine.submit(&inc, vec![Arg::from(&root)], vec![]))
        .collect(); // 2 each
    let total = f
        .engine
        .submit(&sum, branches.iter().map(Arg::from).collect(), vec![]);
    ensure!(value_of(&total)? == 20);
    for branch in &branches {
        ensure!(branch.parent_task_ids() == [root.task_id()]);
    }
    let records = f.records()?;
    ensure!(records.len() == 12);
    let ids: Vec<&str> = branches.iter().map(TaskFuture::task_id).collect();
    ensure!(record(&records, &total)?.parent_task_ids == ids);
    Ok(())
}

#[test]
fn parent_failure_fails_descendants_without_running_them() -> Result<()> {
    let f = run_test(|b| b)?;
    let (fail, inc) = (f.task("fail")?, f.task("inc")?);
    let parent = f.engine.submit(&fail, vec![], vec![]);
    let child = f.engine.submit(&inc, vec![Arg::from(&parent)], vec![]);
    let grandchild = f.engine.submit(&inc, vec![Arg::from(&child)], vec![]);
    let Err(FutureError::Failed(error)) = grandchild.result(None) else {
        bail!("the grandchild should fail");
    };
    ensure!(error.kind() == &ErrorKind::DependencyError);
    ensure!(error.message().contains(child.task_id()));
    let error = child.exception(None)?.context("the child failed")?;
    ensure!(error.is_dependency_failure() && error.message().contains(parent.task_id()));
    ensure!(parent.exception(None)?.context("the parent failed")?.kind() == &ErrorKind::Trap);
    // A child submitted after its parent failed fails the same way.
    let late = f.engine.submit(&inc, vec![Arg::from(&parent)], vec![]);
    ensure!(
        late.exception(None)?
            .is_some_and(|e| e.is_dependency_failure())
    );

    let records = f.records()?;
    ensure!(records.len() == 4);
    // As TaPS records them: every task that never ran carries the exception of the task
    // that really failed (type, message and traceback), not a dependency error.
    let failed = record(&records, &parent)?;
    ensure!(failed.execution.is_some());
    let cause = failed.exception.clone().context("the parent's exception")?;
    ensure!(cause.kind == "Trap" && cause.traceback.is_some());
    for future in [&child, &grandchild, &late] {
        let info = record(&records, future)?;
        ensure!(info.success == Some(false) && info.execution.is_none());
        ensure!(info.exception.as_ref() == Some(&cause), "{info:?}");
    }
    Ok(())
}

#[test]
fn cancelled_tasks_never_run_and_are_recorded() -> Result<()> {
    let f = run_test(|b| b.workers(1))?;
    let (spin, noop, inc) = (f.task("spin")?, f.task("noop")?, f.task("inc")?);
    let short = LimitOverrides {
        timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    // The only worker is busy with `blocker`, so `queued` waits in the queue.
    let blocker = f.engine.submit_with(&spin, vec![], vec![], &short);
    let queued = f.engine.submit(&noop, vec![], vec![]);
    let child = f.engine.submit(&inc, vec![Arg::from(&queued)], vec![]);
    ensure!(queued.cancel(), "a queued task can be cancelled");
    ensure!(queued.cancel(), "cancelling twice still says cancelled");
    ensure!(queued.cancelled() && queued.done());
    ensure!(matches!(queued.result(None), Err(FutureError::Cancelled)));
    ensure!(
        child
            .exception(None)?
            .is_some_and(|e| e.is_dependency_failure())
    );
    let error = blocker.exception(None)?.context("the spinner times out")?;
    ensure!(error.is_timeout());
    ensure!(!blocker.cancel(), "a finished task cannot be cancelled");

    let records = f.records()?;
    let info = record(&records, &queued)?;
    ensure!(info.success == Some(false) && info.execution.is_none());
    ensure!(
        info.exception
            .as_ref()
            .is_some_and(|e| e.kind == "CancelledError")
    );
    // Its dependent records the cancellation too, as TaPS does.
    let child_info = record(&records, &child)?;
    ensure!(child_info.success == Some(false));
    ensure!(child_info.exception == info.exception, "{child_info:?}");
    Ok(())
}

#[test]
fn shutdown_with_cancel_futures_cancels_what_has_not_started() -> Result<()> {
    let f = run_test(|b| b.workers(1))?;
    let (spin, noop) = (f.task("spin")?, f.task("noop")?);
    let short = LimitOverrides {
        timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let blocker = f.engine.submit_with(&spin, vec![], vec![], &short);
    let queued: Vec<TaskFuture> = (0..5)
        .map(|_| f.engine.submit(&noop, vec![], vec![]))
        .collect();
    f.engine.shutdown(true, true);
    ensure!(blocker.done());
    for future in &queued {
        ensure!(
            future.cancelled(),
            "a queued task is cancelled by the shutdown"
        );
    }
    let after = f.engine.submit(&noop, vec![], vec![]);
    ensure!(
        after.cancelled(),
        "a task submitted after shutdown is cancelled"
    );
    ensure!(f.records.records().len() == 6);
    Ok(())
}

#[test]
fn result_wait_and_as_completed_time_out() -> Result<()> {
    let f = run_test(|b| b)?;
    let (spin, noop) = (f.task("spin")?, f.task("noop")?);
    let short = LimitOverrides {
        timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    };
    let slow = f.engine.submit_with(&spin, vec![], vec![], &short);
    let quick = f.engine.submit(&noop, vec![], vec![]);
    quick.result(None)?;

    let waited = slow.result(Some(Duration::from_millis(20)));
    ensure!(
        matches!(waited, Err(FutureError::Timeout)),
        "got {waited:?}"
    );
    ensure!(matches!(
        slow.exception(Some(Duration::ZERO)),
        Err(FutureError::Timeout)
    ));

    let both = [slow.clone(), quick.clone()];
    let (done, not_done) = wait(
        &both,
        Some(Duration::from_millis(20)),
        ReturnWhen::AllCompleted,
    );
    ensure!(done.len() == 1 && done[0].task_id() == quick.task_id());
    ensure!(not_done.len() == 1 && not_done[0].task_id() == slow.task_id());

    let mut completed = as_completed(&both, Some(Duration::from_millis(20)));
    ensure!(completed.next().context("one is done")??.task_id() == quick.task_id());
    ensure!(matches!(completed.next(), Some(Err(FutureError::Timeout))));
    ensure!(completed.next().is_none());

    // Without a deadline they all end (the spinner by its own time limit).
    let (done, not_done) = wait(&both, None, ReturnWhen::AllCompleted);
    ensure!(done.len() == 2 && not_done.is_empty());
    ensure!(slow.exception(None)?.is_some_and(|e| e.is_timeout()));
    Ok(())
}

#[test]
fn wait_first_completed_and_first_exception() -> Result<()> {
    let f = run_test(|b| b)?;
    let (spin, fail) = (f.task("spin")?, f.task("fail")?);
    let short = LimitOverrides {
        timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    };
    let slow = f.engine.submit_with(&spin, vec![], vec![], &short);
    let failing = f.engine.submit(&fail, vec![], vec![]);
    let both = [slow.clone(), failing.clone()];
    let (done, not_done) = wait(&both, None, ReturnWhen::FirstException);
    ensure!(done.len() == 1 && done[0].task_id() == failing.task_id());
    ensure!(not_done.len() == 1);
    let (done, _) = wait(&both, None, ReturnWhen::FirstCompleted);
    ensure!(!done.is_empty());
    let (done, not_done) = wait(&[], None, ReturnWhen::FirstCompleted);
    ensure!(done.is_empty() && not_done.is_empty());
    Ok(())
}

#[test]
fn as_completed_yields_every_future_once() -> Result<()> {
    let f = run_test(|b| b)?;
    let inc = f.task("inc")?;
    let futures: Vec<TaskFuture> = (0..50)
        .map(|i| f.engine.submit(&inc, vec![int(i)], vec![]))
        .collect();
    let mut seen = HashSet::new();
    for future in as_completed(&futures, None) {
        let future = future?;
        ensure!(future.done());
        ensure!(seen.insert(future.task_id().to_owned()));
    }
    ensure!(seen.len() == 50);
    Ok(())
}

#[test]
fn map_returns_results_in_input_order() -> Result<()> {
    let f = run_test(|b| b)?;
    let inc = f.task("inc")?;
    let results: Vec<i64> = f
        .engine
        .map(&inc, (0..100).map(|i| vec![int(i)]), None)
        .map(|r| Ok(r?.decode::<i64>()?))
        .collect::<Result<_>>()?;
    ensure!(results == (1..=100).collect::<Vec<i64>>());
    Ok(())
}

#[test]
fn parent_task_ids_follow_argument_order() -> Result<()> {
    let f = run_test(|b| b)?;
    let (inc, noop) = (f.task("inc")?, f.task("noop")?);
    let a = f.engine.submit(&inc, vec![int(1)], vec![]);
    let b = f.engine.submit(&inc, vec![int(2)], vec![]);
    let c = f.engine.submit(&inc, vec![int(3)], vec![]);
    // Positional futures first (c, a), then keyword values in the order given (b, a).
    let child = f.engine.submit(
        &noop,
        vec![Arg::from(&c), int(7), Arg::from(&a)],
        vec![("x".into(), Arg::from(&b)), ("y".into(), Arg::from(&a))],
    );
    let expected = [c.task_id(), a.task_id(), b.task_id(), a.task_id()];
    ensure!(child.parent_task_ids() == expected);
    // `noop` has no manifest, so keyword arguments are refused; the record still holds
    // the parents.
    child.exception(None)?;
    let records = f.records()?;
    ensure!(record(&records, &child)?.parent_task_ids == expected);
    Ok(())
}

#[test]
fn typed_tasks_encode_arguments_and_decode_results() -> Result<()> {
    let f = run_test(|b| b)?;
    let inc = f.task("inc")?.typed::<(i64,), i64>();
    let sum = f.task("sum")?.typed::<(i64, i64, i64), i64>();
    let one = f.engine.call(&inc, (0,));
    let two = f.engine.call(&inc, (&one,));
    let total = f.engine.call(&sum, (&one, &two, 4));
    ensure!(total.result(None)? == 7);
    ensure!(total.parent_task_ids() == [one.task_id(), two.task_id()]);
    let wrong = f.task("noop")?.typed::<(), i64>();
    let nil = f.engine.call(&wrong, ());
    ensure!(matches!(nil.result(None), Err(FutureError::Decode(_))));
    Ok(())
}

#[test]
fn futures_can_be_awaited() -> Result<()> {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    /// A minimal executor: park until woken.
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }

    let f = run_test(|b| b)?;
    let inc = f.task("inc")?;
    let a = f.engine.submit(&inc, vec![int(40)], vec![]);
    let b = f.engine.submit(&inc, vec![Arg::from(&a)], vec![]);
    let value = block_on(async { b.clone().await })?;
    ensure!(value == Value::encode(&42)?);
    Ok(())
}

#[test]
fn limits_come_from_the_builder_and_the_submission() -> Result<()> {
    let f = run_test(|b| {
        b.default_limits(LimitOverrides {
            timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        })
    })?;
    let spin = f.task("spin")?;
    let by_default = f.engine.submit(&spin, vec![], vec![]);
    ensure!(by_default.exception(None)?.is_some_and(|e| e.is_timeout()));
    let fuel = LimitOverrides {
        fuel: Some(10_000),
        ..Default::default()
    };
    let by_fuel = f.engine.submit_with(&spin, vec![], vec![], &fuel);
    ensure!(by_fuel.exception(None)?.is_some_and(|e| e.is_out_of_fuel()));
    Ok(())
}

/// Reads a JSON-lines record file: every complete line must parse; a final line without
/// its newline (cut by a kill) is returned separately.
fn read_log(path: &std::path::Path) -> Result<(Vec<TaskInfo>, Option<String>)> {
    let text = std::fs::read_to_string(path)?;
    let (whole, partial) = match text.rfind('\n') {
        Some(end) => (&text[..=end], &text[end + 1..]),
        None => ("", text.as_str()),
    };
    let records = whole
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<TaskInfo>(line)
                .with_context(|| format!("line {}: {line}", i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((records, (!partial.is_empty()).then(|| partial.to_owned())))
}

#[test]
fn hundred_thousand_concurrent_tasks_are_each_logged_once() -> Result<()> {
    const TASKS_RUN: usize = 100_000;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("tasks.jsonl");
    let runtime = Runtime::new()?;
    let module = runtime.load_wat("engine-tasks", &support::wat(TASKS))?;
    let (noop, inc) = (module.task("noop")?, module.task("inc")?);
    let engine = Engine::builder(runtime).record_file(&log).build()?;
    // Submit from two threads at once: independent no-ops and chains of four `inc`s.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut last: Option<TaskFuture> = None;
                for i in 0..TASKS_RUN / 2 {
                    last = Some(match (i % 5, last.take()) {
                        (0, _) | (_, None) => engine.submit(&noop, vec![], vec![]),
                        (1, _) => engine.submit(&inc, vec![int(0)], vec![]),
                        (_, Some(parent)) => engine.submit(&inc, vec![parent.into()], vec![]),
                    });
                }
            });
        }
    });
    drop(engine);
    let (records, partial) = read_log(&log)?;
    ensure!(
        partial.is_none(),
        "the log ends mid-line after a clean shutdown"
    );
    let ids: HashSet<&str> = records.iter().map(|r| r.task_id.as_str()).collect();
    ensure!(records.len() == ids.len(), "some task was logged twice");
    ensure!(records.iter().all(|r| r.success == Some(true)));
    ensure!(records.iter().all(|r| r.received_time.is_some()));
    ensure!(records.len() == TASKS_RUN, "{} records", records.len());
    Ok(())
}

#[test]
fn records_survive_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("tasks.jsonl");
    let module = dir.path().join("engine-tasks.wat");
    std::fs::write(&module, support::wat(TASKS))?;
    // Submits tasks, recording them into `log`, until killed.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_submit-until-killed"))
        .arg(&module)
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    // Let it write a good many records, then kill it without warning.
    let started = std::time::Instant::now();
    while std::fs::metadata(&log).map_or(0, |m| m.len()) < 2 << 20 {
        if let Some(status) = child.try_wait()? {
            bail!("the child exited early: {status}");
        }
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the child wrote too little"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    let (records, _partial) = read_log(&log)?;
    ensure!(records.len() > 1000, "only {} records", records.len());
    let ids: HashSet<&str> = records.iter().map(|r| r.task_id.as_str()).collect();
    ensure!(ids.len() == records.len(), "a task was logged twice");
    Ok(())
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("statm has a resident field")?
        .parse()?;
    Ok(pages * 4096)
}

#[test]
#[ignore = "runs a million tasks; run with --ignored"]
fn a_million_noop_tasks_keep_memory_flat() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let f = run_test(|b| b.record_file(dir.path().join("tasks.jsonl")))?;
    let noop = f.task("noop")?;
    let mut samples = Vec::new();
    for _ in 0..10 {
        for _ in 0..100_000 {
            f.engine.submit(&noop, vec![], vec![]);
        }
        samples.push(resident_bytes()?);
    }
    eprintln!(
        "resident MiB after each 100k: {:?}",
        samples.iter().map(|b| b >> 20).collect::<Vec<_>>()
    );
    // The first rounds fill the bounded queue and the allocator; after that, no growth
    // beyond noise.
    ensure!(
        samples[9] < samples[2] + (32 << 20),
        "memory grew: {samples:?}"
    );
    Ok(())
}
