// Makes an uncaught error of a JavaScript task reach the host with its class.
//
// When an export throws, the component runtimes (componentize-qjs' QuickJS,
// componentize-js' SpiderMonkey) print the error's message and stack to stderr and trap,
// but not its class: a TypeError and a RangeError look alike. scripts/componentize wraps
// every function the task module exports with `reportingErrorNames`, which prefixes an
// uncaught Error's message with its class name (`TypeError: cannot read property 'k' of
// null`), the form the host reads the exception type from. QuickJS prints the message as
// it is when the error leaves the export, so the prefix shows; SpiderMonkey prints the
// message the error was created with, so there the class stays unknown (a new Error would
// carry the class but lose the stack of where the error happened).
//
// A thrown value that is not an Error passes untouched: throwing the error value is how a
// JS export returns the error of a WIT `result`.

export function reportingErrorNames(value) {
  if (typeof value === "function" && !isClass(value)) {
    const wrapped = function (...args) {
      try {
        return value.apply(this, args);
      } catch (e) {
        throw named(e);
      }
    };
    Object.defineProperty(wrapped, "name", { value: value.name });
    return wrapped;
  }
  if (value !== null && typeof value === "object") {
    // An exported interface: an object of functions.
    const entries = Object.entries(value).map(([key, v]) => [key, reportingErrorNames(v)]);
    return Object.fromEntries(entries);
  }
  return value;
}

function isClass(f) {
  return /^class\b/.test(Function.prototype.toString.call(f));
}

function named(e) {
  if (e instanceof Error) {
    const name = String(e.name);
    const message = String(e.message);
    if (!message.startsWith(`${name}:`)) {
      try {
        e.message = `${name}: ${message}`;
      } catch {
        // A frozen error keeps its message.
      }
    }
  }
  return e;
}
