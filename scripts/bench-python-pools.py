"""Python tasks through Python's own concurrent.futures pools (the executors TaPS wraps),
unsandboxed: the baseline for the same functions run as WebAssembly components.

The tasks are the functions of examples/python/tasks.py, which examples/python/app.py
exports as a component (scripts/build-polyglot python): the very same Python code.

Usage:
  python3 scripts/bench-python-pools.py [TASKS] [WORKERS] [options]

  TASKS              tasks per run (default 100,000)
  WORKERS            pool size (default 2)
  --task NAME        noop (default), map-words or synthetic; repeat for several
  --runs R           runs per measurement (default 3); prints the min and the median
  --words N          words in the text map-words counts (default 25,000: one map task of
                     `wasmtaps run mapreduce --generate` with its default 10 files of
                     10,000 words and 4 map tasks)
  --fresh-process    also ProcessPoolExecutor(max_tasks_per_child=1): a new process for
                     every task, the nearest Python has to a fresh sandbox per call
  --latency N        also N one-at-a-time round trips (submit, wait for the result) per
                     run on a warm pool: the per-call latency

Throughput is over TASKS tasks submitted at once to a pool warmed beforehand (process
start-up is not part of the per-task cost, except with --fresh-process where it is the
point). Each line: the pool, the task, then per task the min and median over the runs of
the wall time and of the CPU time (this process and the pool's processes together).
"""

import argparse
import os
import random
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from functools import partial

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "python"))
import tasks  # noqa: E402  (examples/python/tasks.py)

# The vocabulary `wasmtaps run mapreduce --generate` draws from (host/src/cli/run/apps/mapreduce.rs).
VOCABULARY = (
    "the of and to in task data engine wasm future result worker sandbox module memory record "
    "phase graph value limit trap host guest bytes queue time reduce map word count"
).split()


def text(words: int) -> str:
    """`words` words with a Zipf-like distribution (P(rank r) ~ 1/r), 12 to a line."""
    rng = random.Random(42)
    n = len(VOCABULARY)
    out = []
    for i in range(words):
        r = int((n + 1.0) ** rng.random() - 1.0)
        out.append(VOCABULARY[min(r, n - 1)])
        out.append("\n" if i % 12 == 11 else " ")
    return "".join(out)


def task_call(name: str, words: int):
    """The callable a pool runs for the task `name` (picklable, for process pools)."""
    if name == "noop":
        return tasks.noop
    if name == "map-words":
        return partial(tasks.map_words, text(words))
    if name == "synthetic":
        return partial(tasks.synthetic, [], 0, 0.0)
    raise SystemExit(f"bench-python-pools: unknown task {name!r} (noop, map-words, synthetic)")


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def throughput(make_pool, call, count: int, workers: int) -> tuple[float, float]:
    """Wall seconds per task over `count` tasks submitted at once to a warm pool, and CPU
    seconds per task (this process and the pool's processes, the pool's start and stop
    included, over the warm-up tasks too): the CPU figure hardly moves when other work
    shares the machine, the wall figure does."""
    warm = workers * 4
    cpu_start = cpu_seconds()
    with make_pool() as pool:
        wait([pool.submit(call) for _ in range(warm)])
        start = time.perf_counter()
        futures = [pool.submit(call) for _ in range(count)]
        wait(futures)
        elapsed = time.perf_counter() - start
        for f in futures:
            f.result()  # a task that raised would make the figure meaningless
    return elapsed / count, (cpu_seconds() - cpu_start) / (count + warm)


def latency(make_pool, call, count: int, workers: int) -> float:
    """Median seconds of one submit-and-wait round trip on a warm pool."""
    with make_pool() as pool:
        wait([pool.submit(call) for _ in range(workers * 4)])
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            pool.submit(call).result()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def describe(seconds: list[float]) -> str:
    best, median = min(seconds), statistics.median(seconds)
    return f"min {best * 1e6:,.1f} µs ({1 / best:,.0f}/s), median {median * 1e6:,.1f} µs ({1 / median:,.0f}/s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", nargs="?", type=int, default=100_000)
    parser.add_argument("workers", nargs="?", type=int, default=2)
    parser.add_argument("--task", action="append", dest="names")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--words", type=int, default=25_000)
    parser.add_argument("--fresh-process", action="store_true")
    parser.add_argument("--latency", type=int, default=0)
    args = parser.parse_args()
    if args.tasks < 1 or args.workers < 1 or args.runs < 1:
        parser.error("TASKS, WORKERS and --runs must be at least 1")
    names = args.names or ["noop"]
    w = args.workers
    pools = [
        (f"ThreadPoolExecutor({w})", partial(ThreadPoolExecutor, max_workers=w)),
        (f"ProcessPoolExecutor({w})", partial(ProcessPoolExecutor, max_workers=w)),
    ]
    if args.fresh_process:
        pools.append(
            (
                f"ProcessPoolExecutor({w}, max_tasks_per_child=1)",
                partial(ProcessPoolExecutor, max_workers=w, max_tasks_per_child=1),
            )
        )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs each")
    for name in names:
        call = task_call(name, args.words)
        detail = f" ({args.words:,} words)" if name == "map-words" else ""
        for label, make_pool in pools:
            # A fresh process per task costs tens of milliseconds: fewer tasks keep the run short.
            fresh = "max_tasks_per_child" in label
            count = min(args.tasks, 200) if fresh else args.tasks
            runs = [throughput(make_pool, call, count, w) for _ in range(args.runs)]
            wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
            print(
                f"{label} {name}{detail}: {describe(wall)} per task over {count:,} tasks; "
                f"CPU min {min(cpu) * 1e6:,.1f} µs, median {statistics.median(cpu) * 1e6:,.1f} µs per task"
            )
            if args.latency:
                calls = min(args.latency, 50) if fresh else args.latency
                runs = [latency(make_pool, call, calls, w) for _ in range(args.runs)]
                print(f"{label} {name}{detail}: one call round trip, median of {calls:,}: {describe(runs)}")


if __name__ == "__main__":
    main()
