"""The example tasks as plain Python functions.

`app.py` exports them as a WebAssembly component (the world `examples` in
wit/wasmtaps-examples.wit); `scripts/bench-python-pools.py` runs the very same functions
unsandboxed in Python's own thread and process pools, for comparison.

Every module used here is imported at the top: componentize-py bundles only the modules
imported while it builds the component, so a module imported lazily inside a function
would be missing when the task runs.
"""

import hashlib
import random
import re
import time

# A word: a run of letters, digits and apostrophes (`[^\W_]` is \w without the underscore).
WORD = re.compile(r"(?:[^\W_]|')+")


def synthetic(data: list[bytes], output_size: int, sleep: float) -> bytes:
    """TaPS's synthetic `noop_task(*data, output_size, sleep)`: takes the bytes the task's
    parents produced, sleeps `sleep` seconds and returns `output_size` pseudo-random bytes
    seeded from every input byte."""
    digest = hashlib.blake2b(digest_size=8)
    for chunk in data:
        digest.update(chunk)
    if sleep > 0:
        time.sleep(sleep)
    return random.Random(digest.digest()).randbytes(output_size)


def map_words(text: str) -> list[tuple[str, int]]:
    """Counts the words of `text`: lower-cased runs of letters, digits and apostrophes,
    apostrophes trimmed from both ends. Sorted by word, each word once."""
    counts: dict[str, int] = {}
    for match in WORD.finditer(text):
        word = match.group().strip("'")
        if word:
            word = word.lower()
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items())


def reduce_counts(counts: list[list[tuple[str, int]]]) -> list[tuple[str, int]]:
    """Adds up word counts. Sorted by word, each word once."""
    total: dict[str, int] = {}
    for part in counts:
        for word, n in part:
            total[word] = total.get(word, 0) + n
    return sorted(total.items())


def noop() -> None:
    """Does nothing."""
