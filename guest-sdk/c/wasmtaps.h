/*
 * wasmtaps.h: the wasmtaps guest SDK for C and C++ (guest ABI v1, docs/abi.md).
 *
 * A task is a function that reads its arguments from a `wt_call` and returns the
 * packed result of one of the `wt_return_*` / `wt_err` helpers:
 *
 *     #include "wasmtaps.h"
 *
 *     WASMTAPS_TASK(add, a, b) {
 *         int64_t a, b;
 *         if (!wt_arg_i64(call, 0, &a) || !wt_arg_i64(call, 1, &b))
 *             return wt_fail(call);            // ArgumentError, already written
 *         return wt_return_i64(call, a + b);   // {"ok": a + b}
 *     }
 *
 * `WASMTAPS_TASK(name, params...)` defines the export `wasmtaps_task_<name>`, binds
 * `[args, kwargs]` to the named parameters (positional or by name; the checks of
 * docs/abi.md section 5 answer with an `ArgumentError` envelope) and emits the task's
 * entry of the `wasmtaps.tasks` manifest, so callers can pass keyword arguments.
 *
 * Memory: `wasmtaps_alloc` and every SDK allocation come from a bump allocator that
 * never frees (the host drops the instance after one call). It takes its pages with
 * `memory.grow`, so it coexists with libc's `malloc`.
 *
 * Build (Debian clang/lld/wasi-libc; see README.md):
 *     clang --target=wasm32-wasi -O2 -mexec-model=reactor -I guest-sdk/c \
 *         -o tasks.wasm tasks.c guest-sdk/c/wasmtaps.c
 */
#ifndef WASMTAPS_H
#define WASMTAPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#else
#include <stdbool.h>
#endif

/* The most parameters a task declared with WASMTAPS_TASK may have. */
#define WT_MAX_PARAMS 8

/* ---- Allocation ---------------------------------------------------------------- */

/* `len` bytes aligned to 8, never freed; NULL when memory cannot grow. */
void *wt_alloc(size_t len);

/* ---- Reading MessagePack ------------------------------------------------------- */

/* A cursor over MessagePack bytes. Every `wt_read_*` returns false (and leaves the
 * cursor where it was) when the next value is not of the asked type. */
typedef struct wt_reader {
    const uint8_t *pos;
    const uint8_t *end;
} wt_reader;

bool wt_read_nil(wt_reader *r);
bool wt_read_bool(wt_reader *r, bool *out);
/* Any MessagePack integer that fits in int64_t. */
bool wt_read_i64(wt_reader *r, int64_t *out);
/* A float (32 or 64-bit) or an integer. */
bool wt_read_f64(wt_reader *r, double *out);
/* A str; `*out` points into the input and is not NUL-terminated. */
bool wt_read_str(wt_reader *r, const char **out, uint32_t *len);
/* A bin; `*out` points into the input. */
bool wt_read_bin(wt_reader *r, const uint8_t **out, uint32_t *len);
bool wt_read_array(wt_reader *r, uint32_t *count);
bool wt_read_map(wt_reader *r, uint32_t *count);
/* Skips one whole value (with everything nested in it). */
bool wt_skip(wt_reader *r);
/* The MessagePack type name of the next value ("string", "integer", ...). */
const char *wt_type_name(const wt_reader *r);

/* ---- Writing MessagePack ------------------------------------------------------- */

/* A growing output buffer in bump-allocated memory. */
typedef struct wt_writer {
    uint8_t *buf;
    uint32_t len;
    uint32_t cap;
} wt_writer;

void wt_write_nil(wt_writer *w);
void wt_write_bool(wt_writer *w, bool v);
void wt_write_i64(wt_writer *w, int64_t v);
void wt_write_u64(wt_writer *w, uint64_t v);
void wt_write_f64(wt_writer *w, double v);
void wt_write_str(wt_writer *w, const char *s, uint32_t len);
void wt_write_cstr(wt_writer *w, const char *s);
void wt_write_bin(wt_writer *w, const uint8_t *data, uint32_t len);
/* Writes a bin header for `len` bytes and returns them for the caller to fill. */
uint8_t *wt_write_bin_space(wt_writer *w, uint32_t len);
/* Headers: follow with `count` values (array) or `count` key/value pairs (map). */
void wt_write_array(wt_writer *w, uint32_t count);
void wt_write_map(wt_writer *w, uint32_t count);
/* Reserves `len` raw bytes and returns them for the caller to fill. */
uint8_t *wt_write_raw(wt_writer *w, uint32_t len);

/* ---- One call ----------------------------------------------------------------- */

typedef struct wt_call {
    const char *task;                    /* task name, for messages */
    const char *const *params;           /* parameter names */
    uint32_t nparams;
    wt_reader args[WT_MAX_PARAMS];       /* each parameter's value */
    wt_writer out;                       /* the result envelope */
    int64_t failed;                      /* nonzero: the packed ArgumentError result */
} wt_call;

/* Argument getters: true on success; on a type mismatch they write an `ArgumentError`
 * envelope (returned by `wt_fail`) naming the task and parameter, and return false. */
bool wt_arg_i64(wt_call *call, uint32_t index, int64_t *out);
bool wt_arg_f64(wt_call *call, uint32_t index, double *out);
bool wt_arg_bool(wt_call *call, uint32_t index, bool *out);
bool wt_arg_str(wt_call *call, uint32_t index, const char **out, uint32_t *len);
bool wt_arg_bin(wt_call *call, uint32_t index, const uint8_t **out, uint32_t *len);
/* A reader over the raw value of parameter `index`, for arrays, maps, any value. */
wt_reader wt_arg(const wt_call *call, uint32_t index);
/* Writes an `ArgumentError` for parameter `index` saying what was `expected`. */
int64_t wt_arg_error(wt_call *call, uint32_t index, const char *expected);
/* The packed result of the last failed getter. */
int64_t wt_fail(wt_call *call);

/* Results. `wt_ok` starts `{"ok": ` and returns the writer for exactly one value;
 * `wt_done` returns the packed (ptr << 32 | len) for the task to return. */
wt_writer *wt_ok(wt_call *call);
int64_t wt_done(wt_call *call);
int64_t wt_return_nil(wt_call *call);
int64_t wt_return_i64(wt_call *call, int64_t v);
int64_t wt_return_f64(wt_call *call, double v);
int64_t wt_return_str(wt_call *call, const char *s, uint32_t len);
int64_t wt_return_bin(wt_call *call, const uint8_t *data, uint32_t len);
/* `{"err": {"type": type, "message": message, "traceback": nil}}`. */
int64_t wt_err(wt_call *call, const char *type, const char *message);

/* Reports `message` through `wasmtaps.panic` and traps: the host reports a
 * `GuestPanic` with this message. */
#ifdef __cplusplus
[[noreturn]]
#else
_Noreturn
#endif
void wt_panic(const char *message);

/* ---- Defining tasks ------------------------------------------------------------ */

/* Binds `[args, kwargs]` to `nparams` names; false when they do not fit (call->failed
 * then holds the ArgumentError). Used by WASMTAPS_TASK. */
bool wt__bind(wt_call *call, const char *task, const char *const *params,
              uint32_t nparams, int32_t ptr, int32_t len);

/* Manifest entry: {"abi": 1, "name": name, "export": "wasmtaps_task_" name,
 * "params": [...]}, as a custom section the linker concatenates. */
#define WT__S(str) ".int8 0xd9\n.int8 2f-1f\n1:\n.ascii \"" str "\"\n2:\n"
#define WT__P0()
#define WT__P1(a) WT__S(#a)
#define WT__P2(a, b) WT__S(#a) WT__S(#b)
#define WT__P3(a, b, c) WT__P2(a, b) WT__S(#c)
#define WT__P4(a, b, c, d) WT__P3(a, b, c) WT__S(#d)
#define WT__P5(a, b, c, d, e) WT__P4(a, b, c, d) WT__S(#e)
#define WT__P6(a, b, c, d, e, f) WT__P5(a, b, c, d, e) WT__S(#f)
#define WT__P7(a, b, c, d, e, f, g) WT__P6(a, b, c, d, e, f) WT__S(#g)
#define WT__P8(a, b, c, d, e, f, g, h) WT__P7(a, b, c, d, e, f, g) WT__S(#h)
#define WT__N(_0, _1, _2, _3, _4, _5, _6, _7, _8, n, ...) n
#define WT__COUNT(...) WT__N(_, ##__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define WT__CAT(a, b) WT__CAT_(a, b)
#define WT__CAT_(a, b) a##b
#define WT__STRS(...) WT__CAT(WT__STRS, WT__COUNT(__VA_ARGS__))(__VA_ARGS__)
#define WT__STRS0() 0
#define WT__STRS1(a) #a
#define WT__STRS2(a, b) #a, #b
#define WT__STRS3(a, b, c) #a, #b, #c
#define WT__STRS4(a, b, c, d) #a, #b, #c, #d
#define WT__STRS5(a, b, c, d, e) #a, #b, #c, #d, #e
#define WT__STRS6(a, b, c, d, e, f) #a, #b, #c, #d, #e, #f
#define WT__STRS7(a, b, c, d, e, f, g) #a, #b, #c, #d, #e, #f, #g
#define WT__STRS8(a, b, c, d, e, f, g, h) #a, #b, #c, #d, #e, #f, #g, #h
#define WT__HEX(n) WT__CAT(WT__HEX_, n)
#define WT__HEX_0 "0x90"
#define WT__HEX_1 "0x91"
#define WT__HEX_2 "0x92"
#define WT__HEX_3 "0x93"
#define WT__HEX_4 "0x94"
#define WT__HEX_5 "0x95"
#define WT__HEX_6 "0x96"
#define WT__HEX_7 "0x97"
#define WT__HEX_8 "0x98"

#define WASMTAPS_MANIFEST(name, ...)                                                   \
    __asm__(".section .custom_section.wasmtaps.tasks,\"\",@\n"                         \
            ".int8 0x84\n" WT__S("abi") ".int8 1\n" WT__S("name") WT__S(#name)         \
            WT__S("export") WT__S("wasmtaps_task_" #name) WT__S("params")              \
            ".int8 " WT__HEX(WT__COUNT(__VA_ARGS__)) "\n"                              \
            WT__CAT(WT__P, WT__COUNT(__VA_ARGS__))(__VA_ARGS__))

#ifdef __cplusplus
#define WT__EXTERN extern "C"
#else
#define WT__EXTERN
#endif

/* Defines task `name` with parameters `...` (identifiers, at most WT_MAX_PARAMS),
 * followed by the task's body, which sees `wt_call *call` and returns int64_t. */
#define WASMTAPS_TASK(name, ...)                                                       \
    WASMTAPS_MANIFEST(name, ##__VA_ARGS__);                                             \
    static const char *const wt__params_##name[WT__COUNT(__VA_ARGS__) + 1] = {         \
        WT__STRS(__VA_ARGS__)};                                                        \
    static int64_t wt__task_##name(wt_call *call);                                   \
    WT__EXTERN __attribute__((export_name("wasmtaps_task_" #name))) int64_t            \
        wasmtaps_task_##name(int32_t ptr, int32_t len) {                               \
        wt_call call;                                                                  \
        if (!wt__bind(&call, #name, wt__params_##name, WT__COUNT(__VA_ARGS__), ptr,    \
                      len))                                                            \
            return call.failed;                                                        \
        return wt__task_##name(&call);                                                 \
    }                                                                                  \
    static int64_t wt__task_##name(__attribute__((unused)) wt_call *call)

#ifdef __cplusplus
}
#endif

#endif /* WASMTAPS_H */
