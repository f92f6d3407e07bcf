"""The example tasks as a WebAssembly component: implements the world `examples`
(wit/wasmtaps-examples.wit, which includes the `apps` world of wit/wasmtaps-apps.wit).

Build: scripts/build-polyglot python   (-> target/polyglot/python/apps.wasm)
Call:  wasmtaps call target/polyglot/python/apps.wasm map-words --args '["the cat the hat"]'

Every module is imported here, at the top, so componentize-py bundles it (see tasks.py).
"""

import os
import socket

import tasks
import wit_world
from componentize_py_types import Err

# The longest text `probe` reports per attempt.
PROBE_REPORT_CHARS = 200


class WitWorld(wit_world.WitWorld):
    def synthetic(self, data: list[bytes], output_size: int, sleep: float) -> bytes:
        return tasks.synthetic(data, output_size, sleep)

    def map_words(self, text: str) -> list[tuple[str, int]]:
        return tasks.map_words(text)

    def reduce_counts(self, counts: list[list[tuple[str, int]]]) -> list[tuple[str, int]]:
        return tasks.reduce_counts(counts)

    def noop(self) -> None:
        tasks.noop()

    def add(self, a: int, b: int) -> int:
        # s64 arithmetic: wrap into [-2**63, 2**63).
        return (a + b + 2**63) % 2**64 - 2**63

    def fail_uncaught(self, key: str) -> str:
        return {}[key]  # raises KeyError(key), uncaught

    def fail_caught(self, message: str) -> str:
        raise Err(wit_world.TaskError(type="InjectedFailure", message=message))

    def spin(self) -> int:
        while True:
            pass

    def hog(self, bytes: int) -> int:
        held = bytearray(bytes)
        held[::4096] = b"\x01" * len(range(0, bytes, 4096))  # touch every page
        return len(held)

    def probe(self) -> wit_world.ProbeReport:
        return wit_world.ProbeReport(
            file=attempt(read_passwd),
            env=attempt(read_environment),
            socket=attempt(open_socket),
        )


def read_passwd() -> str:
    with open("/etc/passwd", "rb") as f:
        return f"read {len(f.read())} bytes of /etc/passwd"


def read_environment() -> str:
    names = sorted(os.environ)
    if not names:
        raise LookupError("the environment is empty")
    return f"{len(names)} variables: {', '.join(names)}"


def open_socket() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", 9))
        return "opened and connected a TCP socket to 127.0.0.1:9"
    finally:
        s.close()


def attempt(action) -> str:
    """`allowed: <what it got>` or `denied: <ErrorType>: <message>`."""
    try:
        outcome = "allowed: " + action()
    except Exception as e:  # any failure is the sandbox saying no
        outcome = f"denied: {type(e).__name__}: {e}"
    return outcome[:PROBE_REPORT_CHARS]
