// The example tasks as a WebAssembly component: implements the world `examples`
// (wit/wasmtaps-examples.wit, which includes the `apps` world of wit/wasmtaps-apps.wit).
// Each WIT export is the ES module export of the same name in camelCase (`map-words` is
// `mapWords`).
//
// Build: scripts/build-polyglot js      (QuickJS, -> target/polyglot/js/apps.wasm)
//        scripts/build-polyglot js-sm   (SpiderMonkey, -> target/polyglot/js-sm/apps.wasm)
// Call:  wasmtaps call target/polyglot/js/apps.wasm map-words --args '["the cat the hat"]'
//
// Plain ECMAScript only: QuickJS has no console, no fetch, no process and no file API.

// A word: a run of characters other than white space and punctuation (ASCII, Latin-1,
// General Punctuation, CJK), apostrophes included. (Not `\p{L}`: SpiderMonkey as
// componentize-js builds it has no Unicode property escapes.)
const WORD = /[^\s!-&(-/:-@[-`{-~\u00a1-\u00bf\u2000-\u206f\u3000-\u303f]+/g;

// The longest text `probe` reports per attempt.
const PROBE_REPORT_CHARS = 200;

// TaPS's synthetic `noop_task(*data, output_size, sleep)`: takes the bytes the task's
// parents produced, sleeps `sleep` seconds and returns `outputSize` pseudo-random bytes
// seeded from every input byte (FNV-1a, then xorshift32).
export function synthetic(data, outputSize, sleep) {
  let seed = 0x811c9dc5;
  for (const chunk of data) {
    for (let i = 0; i < chunk.length; i++) {
      seed = Math.imul(seed ^ chunk[i], 0x01000193);
    }
  }
  if (sleep > 0) {
    busyWait(sleep);
  }
  const size = Number(outputSize);
  const words = new Uint32Array(Math.ceil(size / 4));
  let state = seed | 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
  return new Uint8Array(words.buffer, 0, size);
}

// QuickJS has no timer a synchronous export can wait on: the sleep spins on the clock.
function busyWait(seconds) {
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    // spin
  }
}

// Counts the words of `text`: lower-cased runs of letters, digits and apostrophes,
// apostrophes trimmed from both ends. Sorted by word, each word once.
export function mapWords(text) {
  const counts = new Map();
  for (const [match] of text.matchAll(WORD)) {
    const word = match.replace(/^'+|'+$/g, "").toLowerCase();
    if (word) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return sorted(counts);
}

// Adds up word counts. Sorted by word, each word once.
export function reduceCounts(counts) {
  const total = new Map();
  for (const part of counts) {
    for (const [word, n] of part) {
      // A u64 is a BigInt under componentize-js and a number under componentize-qjs.
      total.set(word, (total.get(word) ?? (typeof n === "bigint" ? 0n : 0)) + n);
    }
  }
  return sorted(total);
}

function sorted(counts) {
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// Does nothing.
export function noop() {}

// `a + b` as s64: BigInts under componentize-js (wrapping), numbers under componentize-qjs
// (exact up to 2^53).
export function add(a, b) {
  return typeof a === "bigint" ? BigInt.asIntN(64, a + b) : a + b;
}

// Reads a property of `null`: throws a TypeError, uncaught.
export function failUncaught(key) {
  const missing = null;
  return missing[key];
}

// Returns the error `{type: "InjectedFailure", message}` through `result` (throwing the
// error value is how a JS export returns `result`'s error).
export function failCaught(message) {
  throw { type: "InjectedFailure", message };
}

// Loops forever: only a deadline or fuel stops it.
export function spin() {
  for (;;) {
    // spin
  }
}

// Allocates `bytes` bytes and touches every page; returns how many it holds.
export function hog(bytes) {
  const held = new Uint8Array(Number(bytes));
  for (let i = 0; i < held.length; i += 4096) {
    held[i] = 1;
  }
  return held.length;
}

// Tries to read /etc/passwd, the environment and the network with what a JS engine
// might offer (quickjs-libc's `std`, Node's `process`, `fetch`).
export function probe() {
  return {
    file: attempt(() => `read ${globalThis.std.loadFile("/etc/passwd").length} chars of /etc/passwd`),
    env: attempt(() => `${Object.keys(globalThis.process.env).length} variables`),
    socket: attempt(() => `fetch returned ${typeof globalThis.fetch("http://127.0.0.1:9/")}`),
  };
}

// `allowed: <what it got>` or `denied: <ErrorType>: <message>`.
function attempt(action) {
  let outcome;
  try {
    outcome = `allowed: ${action()}`;
  } catch (e) {
    outcome = `denied: ${e?.name ?? typeof e}: ${e?.message ?? String(e)}`;
  }
  return outcome.slice(0, PROBE_REPORT_CHARS);
}
