"""The Python rows of the peers benchmark: the same task logic as `examples/tasks`
(`noop`, `reverse_bytes`, `checksum`) on `concurrent.futures` thread and process pools,
the executors TaPS wraps. Driven by `wasmtaps-peers run` (see `scripts/bench-peers`);
prints one JSON object like the Rust rows: tasks, seconds, median_us, p99_us, rss_kib.

    python3 python_pools.py --pool threads --workers 2 --kind noop --shape sequential \
        --bytes 0 --tasks 2000
"""

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor


def noop():
    return None


def reverse_bytes(data):
    return data[::-1]


def checksum(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


TASKS = {"noop": noop, "reverse_bytes": reverse_bytes, "checksum": checksum}


def pattern(n):
    return bytes(i % 251 for i in range(251)) * (n // 251) + bytes(range(n % 251))


def vm_hwm_kib(pid="self"):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def check(kind, data, result, expected_hash):
    if kind == "noop":
        assert result is None
    elif kind == "reverse_bytes":
        assert len(result) == len(data) and result[:1] == data[-1:] and result[-1:] == data[:1]
    else:
        assert result == expected_hash


def submit(pool, kind, data):
    fn = TASKS[kind]
    return pool.submit(fn) if kind == "noop" else pool.submit(fn, data)


def quantile(sorted_values, q):
    i = min(max(math.ceil(len(sorted_values) * q), 1), len(sorted_values)) - 1
    return sorted_values[i]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pool", choices=["threads", "processes"], required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kind", choices=list(TASKS), required=True)
    p.add_argument("--shape", choices=["sequential", "chain", "independent"], required=True)
    p.add_argument("--bytes", type=int, default=0)
    p.add_argument("--tasks", type=int, required=True)
    a = p.parse_args()

    data = pattern(a.bytes)
    expected_hash = checksum(data) if a.kind == "checksum" else None
    executor = ThreadPoolExecutor if a.pool == "threads" else ProcessPoolExecutor
    with executor(max_workers=a.workers) as pool:
        # Warm-up: start every worker (the process pool forks on demand).
        # (Pure-Python checksums are slow and have nothing to compile: two suffice.)
        warmup = 1 if a.bytes >= 16 << 20 else 2 if a.kind == "checksum" else 20
        for _ in range(max(warmup, a.workers)):
            check(a.kind, data, submit(pool, a.kind, data).result(), expected_hash)
        latencies = []
        if a.shape == "sequential":
            for _ in range(a.tasks):
                start = time.perf_counter()
                result = submit(pool, a.kind, data).result()
                latencies.append(time.perf_counter() - start)
                check(a.kind, data, result, expected_hash)
            total = sum(latencies)
        elif a.shape == "chain":
            start = time.perf_counter()
            previous, current = start, data
            for _ in range(a.tasks):
                current = submit(pool, a.kind, current).result()
                now = time.perf_counter()
                latencies.append(now - previous)
                previous = now
            total = time.perf_counter() - start
            assert current == (data if a.tasks % 2 == 0 else data[::-1])
        else:
            start = time.perf_counter()
            pending = [(time.perf_counter(), submit(pool, a.kind, data)) for _ in range(a.tasks)]
            for submitted, future in pending:
                result = future.result()
                latencies.append(time.perf_counter() - submitted)
                check(a.kind, data, result, expected_hash)
            total = time.perf_counter() - start
        workers_kib = 0
        if a.pool == "processes":
            workers_kib = sum(vm_hwm_kib(pid) for pid in pool._processes)
    latencies.sort()
    print(json.dumps({
        "tasks": len(latencies),
        "seconds": total,
        "median_us": quantile(latencies, 0.5) * 1e6,
        "p99_us": quantile(latencies, 0.99) * 1e6,
        "rss_kib": vm_hwm_kib() + workers_kib,
    }))


if __name__ == "__main__":
    main()
