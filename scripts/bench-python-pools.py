"""No-op tasks through Python's concurrent.futures pools (the executors TaPS wraps).

Usage: python3 scripts/bench-python-pools.py [TASKS] [WORKERS]
Prints one line per pool: tasks/s over TASKS no-op tasks submitted at once.
"""
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait


def noop():
    return None


def measure(pool_type, tasks, workers):
    with pool_type(max_workers=workers) as pool:
        # Warm the pool (process start-up is not part of the per-task cost).
        wait([pool.submit(noop) for _ in range(workers * 4)])
        start = time.perf_counter()
        futures = [pool.submit(noop) for _ in range(tasks)]
        wait(futures)
        elapsed = time.perf_counter() - start
    return tasks / elapsed


if __name__ == "__main__":
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    for name, pool_type in [("ThreadPoolExecutor", ThreadPoolExecutor), ("ProcessPoolExecutor", ProcessPoolExecutor)]:
        rate = measure(pool_type, tasks, workers)
        print(f"{name}({workers}) no-op: {rate:,.0f} tasks/s over {tasks:,} tasks")
