/* The polyglot example tasks in C, on the wasmtaps C SDK (guest-sdk/c).
 *
 * Build: scripts/build-polyglot c   (writes target/polyglot/c.wasm)
 * Run:   wasmtaps call target/polyglot/c.wasm add --args '[1, 2]'
 */
#include <stdlib.h>
#include <string.h>

#include "wasmtaps.h"

/* add(a, b) -> a + b */
WASMTAPS_TASK(add, a, b) {
    int64_t a, b;
    if (!wt_arg_i64(call, 0, &a) || !wt_arg_i64(call, 1, &b)) return wt_fail(call);
    return wt_return_i64(call, a + b);
}

/* word_count(text) -> {word: count}, words split on ASCII whitespace, in first-seen order. */
WASMTAPS_TASK(word_count, text) {
    const char *s;
    uint32_t len;
    if (!wt_arg_str(call, 0, &s, &len)) return wt_fail(call);
    /* At most len/2 + 1 distinct words; a linear table is plenty for task-sized input. */
    typedef struct { const char *p; uint32_t n; uint64_t count; } word;
    word *words = (word *)wt_alloc(sizeof(word) * (len / 2 + 1));
    uint32_t nwords = 0;
    for (uint32_t i = 0; i < len;) {
        while (i < len && strchr(" \t\n\r\f\v", s[i]) && s[i]) i++;
        uint32_t start = i;
        while (i < len && !(strchr(" \t\n\r\f\v", s[i]) && s[i])) i++;
        if (i == start) break;
        uint32_t k = 0;
        while (k < nwords && !(words[k].n == i - start && !memcmp(words[k].p, s + start, i - start)))
            k++;
        if (k == nwords) words[nwords++] = (word){s + start, i - start, 0};
        words[k].count++;
    }
    wt_writer *w = wt_ok(call);
    wt_write_map(w, nwords);
    for (uint32_t k = 0; k < nwords; k++) {
        wt_write_str(w, words[k].p, words[k].n);
        wt_write_u64(w, words[k].count);
    }
    return wt_done(call);
}

/* parse_int(text) -> integer, or the guest error ParseError. */
WASMTAPS_TASK(parse_int, text) {
    const char *s;
    uint32_t len;
    if (!wt_arg_str(call, 0, &s, &len)) return wt_fail(call);
    uint32_t i = 0;
    int sign = 1;
    if (len && (s[0] == '-' || s[0] == '+')) sign = s[i++] == '-' ? -1 : 1;
    if (i == len) return wt_err(call, "ParseError", "cannot parse integer from empty string");
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return wt_err(call, "ParseError", "invalid digit found in string");
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, sign * (s[i] - '0'), &v))
            return wt_err(call, "ParseError", "number too large to fit in target type");
    }
    return wt_return_i64(call, v);
}

/* reverse_bytes(data: bin) -> bin, reversed. */
WASMTAPS_TASK(reverse_bytes, data) {
    const uint8_t *data;
    uint32_t len;
    if (!wt_arg_bin(call, 0, &data, &len)) return wt_fail(call);
    uint8_t *out = wt_write_bin_space(wt_ok(call), len);
    for (uint32_t i = 0; i < len; i++) out[i] = data[len - 1 - i];
    return wt_done(call);
}

/* noop() -> nil: the fresh-instance benchmark's task. */
WASMTAPS_TASK(noop) { return wt_return_nil(call); }

/* crash(): reports a panic through wasmtaps.panic and traps (GuestPanic). */
WASMTAPS_TASK(crash) { wt_panic("crash: the task gave up on purpose"); }

/* trap(): hits `unreachable` without reporting anything (Trap). */
WASMTAPS_TASK(trap) { __builtin_trap(); }
